"""Runs the payment function under simulated Lambda invocations, as the Python runtime does.

Before the import: the Lambda environment (LAMBDA_TASK_ROOT, AWS_EXECUTION_ENV, _HANDLER,
AWS_LAMBDA_FUNCTION_NAME…) and no trace header. Per invocation: a fresh ``_X_AMZN_TRACE_ID``
(the header the Lambda service hands the runtime), a context object with ``aws_request_id``
and ``get_remaining_time_in_millis()``, then the handler. The documents go to the X-Ray
daemon address, AWS_XRAY_DAEMON_ADDRESS (default 127.0.0.1:2000): point it at
``oxray collect``. The events are ``examples/events.json``; the bank is BANK_URL.

Like the Lambda service, the driver also records the function's own segment (origin
``AWS::Lambda::Function``; its id is the ``Parent`` of the trace header, under which the
handler's subsegments hang), so each trace has its root as in the X-Ray console.

Usage: AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 BANK_URL=http://127.0.0.1:8080 python3 invoke.py
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import socket
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTION_NAME = "payment-py"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}"
HANDLER = "payment.lambda_handler"
TIMEOUT_MS = 30_000


class Context:
    """The attributes of the runtime's context object that handlers use."""

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = FUNCTION_NAME
        self.function_version = "$LATEST"
        self.invoked_function_arn = FUNCTION_ARN
        self.memory_limit_in_mb = 128
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_trace_header() -> tuple[str, str, str]:
    """(header, root, parent): what the Lambda service puts in _X_AMZN_TRACE_ID."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    parent = secrets.token_hex(8)
    return f"Root={root};Parent={parent};Sampled=1", root, parent


def send_function_segment(root: str, parent: str, start: float, end: float, failed: bool) -> None:
    """Records the function segment the Lambda service would record, to the daemon address."""
    segment = {
        "name": FUNCTION_NAME,
        "id": parent,
        "trace_id": root,
        "start_time": start,
        "end_time": end,
        "origin": "AWS::Lambda::Function",
        "resource_arn": FUNCTION_ARN,
    }
    if failed:
        segment["fault"] = True
    host, _, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].rpartition(":")
    datagram = '{"format":"json","version":1}\n' + json.dumps(segment)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(datagram.encode(), (host, int(port)))


def lambda_environment() -> None:
    os.environ.update(
        {
            "LAMBDA_TASK_ROOT": HERE,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": "eu-west-1",
            "_HANDLER": HANDLER,
            "POWERTOOLS_SERVICE_NAME": "payment",
        }
    )
    os.environ.setdefault("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000")
    os.environ.pop("_X_AMZN_TRACE_ID", None)


def load_handler():
    module_name, function_name = HANDLER.rsplit(".", 1)
    sys.path.insert(0, HERE)
    return getattr(importlib.import_module(module_name), function_name)


def main() -> int:
    lambda_environment()
    handler = load_handler()
    with open(os.path.join(HERE, "..", "events.json"), encoding="utf-8") as f:
        events = json.load(f)
    failures = 0
    for event in events:
        header, root, parent = new_trace_header()
        os.environ["_X_AMZN_TRACE_ID"] = header
        context = Context()
        start = time.time()
        failed = False
        try:
            result = handler(event, context)
            outcome = f"ok {result['statusCode']}"
        except Exception as error:  # the runtime reports it as the invocation's error
            failed = True
            failures += 1
            outcome = f"error {type(error).__name__}: {error}"
            if os.environ.get("DEMO_VERBOSE"):
                traceback.print_exc()
        send_function_segment(root, parent, start, time.time(), failed)
        print(f"  {FUNCTION_NAME} {event['order_id']} (trace {root}): {outcome}", flush=True)
    print(f"  {FUNCTION_NAME}: {len(events)} invocations, {failures} failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
