"""Shared fixtures: a real UDP daemon stand-in on 127.0.0.1, a simulated Lambda environment,
and validation of every document against the X-Ray schema plus the stricter rules
(PROTOCOL.md §6.5)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from jsonschema import Draft4Validator

import oxray
from oxray import _capture, _env, _handler, _runtime
from oxray.context import _current
from oxray.patches import _http
from oxray.testing import assemble, capture_traces

REPO = Path(__file__).resolve().parents[2]
FRAME = b'{"format":"json","version":1}\n'
HEADER = "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=1"
FACADE_ID = "53995c3f42cd8ad8"
TRACE_ID = "1-6740c2a1-5f1e2d3c4b5a69788796a5b4"


def _shared_dir() -> Path:
    for candidate in (os.environ.get("OXRAY_SHARED"), REPO / "shared", REPO.parent / "shared"):
        if candidate and (Path(candidate) / "spec").is_dir():
            return Path(candidate)
    raise RuntimeError("shared/spec not found beside the repository (set OXRAY_SHARED)")


SCHEMA = json.loads((_shared_dir() / "spec" / "xray-segmentdocument-schema-v1.0.0.json").read_text())
VALIDATOR = Draft4Validator(SCHEMA)
ID = re.compile(r"^[0-9a-f]{16}$")
TRACE = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
SQL_URL = re.compile(r"^(.+//.+)/([^?]+)\??.*$")


def _strict(doc: Dict[str, Any], top: bool) -> None:
    assert ID.match(doc["id"]), doc["id"]
    if "parent_id" in doc:
        assert ID.match(doc["parent_id"]), doc["parent_id"]
    if "trace_id" in doc:
        assert TRACE.match(doc["trace_id"]), doc["trace_id"]
    if top:
        for key in ("name", "id", "start_time", "trace_id"):
            assert key in doc, f"missing {key}"
        if doc.get("type") == "subsegment":
            assert "parent_id" in doc
    assert ("end_time" in doc) != (doc.get("in_progress") is True), "end_time xor in_progress"
    if "namespace" in doc:
        assert doc["namespace"] in ("aws", "remote")
    cause = doc.get("cause")
    if isinstance(cause, str):
        assert ID.match(cause)
    elif isinstance(cause, dict):
        for exc in cause.get("exceptions", []):
            assert ID.match(exc["id"])
    if "sql" in doc and "url" in doc["sql"]:
        assert SQL_URL.match(doc["sql"]["url"]), doc["sql"]["url"]
    for child in doc.get("subsegments", []):
        _strict(child, top=False)


def check_document(doc: Any) -> Dict[str, Any]:
    """Validates one document (text or dict) and returns it parsed."""
    text = doc if isinstance(doc, str) else json.dumps(doc)
    assert len(text.encode()) <= 64_000, f"document of {len(text.encode())} bytes"
    parsed = json.loads(text)
    errors = sorted(VALIDATOR.iter_errors(parsed), key=str)
    assert not errors, f"schema: {errors[0].message} in {text[:400]}"
    _strict(parsed, top=True)
    return parsed


class Daemon:
    """A UDP listener on 127.0.0.1 standing where the X-Ray daemon stands."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "%s:%d" % self.sock.getsockname()
        self.datagrams: List[bytes] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, _ = self.sock.recvfrom(70_000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.datagrams.append(data)

    def documents(self, count: Optional[int] = None, wait: float = 5.0) -> List[Dict[str, Any]]:
        """All documents received, validated. With ``count``, waits (up to ``wait`` s) for
        that many; then until no more arrive for 0.1 s, to catch any extra."""
        deadline = time.monotonic() + wait
        while count is not None and len(self.datagrams) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        # Then until nothing more arrives for a moment (datagrams already sent are in flight).
        seen = -1
        while seen != len(self.datagrams) and time.monotonic() < deadline:
            seen = len(self.datagrams)
            time.sleep(0.1)
        docs = []
        for datagram in list(self.datagrams):
            assert datagram.startswith(FRAME), datagram[:60]
            docs.append(check_document(datagram[len(FRAME) :].decode()))
        return docs

    def clear(self) -> None:
        self.datagrams.clear()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    d.close()


class FakeContext:
    function_name = "payment-fn"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:payment-fn"
    memory_limit_in_mb = 128
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name = "/aws/lambda/payment-fn"
    log_stream_name = "2024/01/01/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def reset_oxray() -> None:
    _current.set(None)
    _env.server_mode = False
    _runtime._overrides.clear()  # sampling rules, daemon address… given by an earlier test
    oxray.Tracer._reset_config()
    _runtime.swap(None)
    _capture.set_enabled(True)
    _handler.reset_cold_start()
    _http.clear_ignored()


class Lambda:
    """A simulated Lambda runtime: env set like the real one, the trace header present only
    during invocations, a fake context."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, daemon: Daemon) -> None:
        self.daemon = daemon
        self.monkeypatch = monkeypatch
        for key, value in {
            "LAMBDA_TASK_ROOT": "/var/task",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": "payment-fn",
            "_HANDLER": "app.lambda_handler",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "payment",
            "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        }.items():
            monkeypatch.setenv(key, value)
        for key in (
            "_X_AMZN_TRACE_ID",
            "POWERTOOLS_TRACE_DISABLED",
            "AWS_SAM_LOCAL",
            "AWS_CHALICE_CLI_MODE",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
            "POWERTOOLS_TRACER_CAPTURE_ERROR",
            "AWS_XRAY_SDK_ENABLED",
            "AWS_XRAY_CONTEXT_MISSING",
        ):
            monkeypatch.delenv(key, raising=False)
        reset_oxray()
        self.context = FakeContext()

    def invoke(self, handler: Callable[..., Any], event: Any = None, header: Optional[str] = HEADER) -> Any:
        if header is None:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        else:
            os.environ["_X_AMZN_TRACE_ID"] = header
        try:
            result = handler(event if event is not None else {}, self.context)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            return result
        finally:
            os.environ.pop("_X_AMZN_TRACE_ID", None)

    def trees(self, count: Optional[int] = None):
        return assemble(self.daemon.documents(count))


@pytest.fixture
def lam(monkeypatch, daemon):
    env = Lambda(monkeypatch, daemon)
    yield env
    reset_oxray()


@pytest.fixture
def traces():
    """oxray.testing capture whose documents are all validated at the end."""
    reset_oxray()
    with capture_traces() as captured:
        yield captured
    for doc in captured.documents:
        check_document(doc)
    reset_oxray()


#: Environment variables that would put a test out of server mode (Lambda, disabled tracing,
#: sampling or naming settings): cleared by the server-mode and fault tests.
SERVER_MODE_ENV = (
    "LAMBDA_TASK_ROOT",
    "AWS_LAMBDA_FUNCTION_NAME",
    "_X_AMZN_TRACE_ID",
    "AWS_XRAY_TRACING_NAME",
    "AWS_XRAY_SDK_ENABLED",
    "AWS_XRAY_SAMPLING_RULES",
    "AWS_XRAY_CENTRALIZED_SAMPLING",
    "AWS_XRAY_CONTEXT_MISSING",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_TRACE_DISABLED",
    "AWS_SAM_LOCAL",
    "AWS_CHALICE_CLI_MODE",
)
