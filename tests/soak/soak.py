"""Python soak driver: 8 threads trace as fast as they can for OXRAY_SOAK_SECONDS (default 60)
in server mode, sending to the listener at AWS_XRAY_DAEMON_ADDRESS.

Half the threads serve requests through the WSGI middleware (called in process, as a WSGI
server would, with ``X-Amzn-Trace-Id: Sampled=1`` so every trace is sampled); the other half
use the recorder API (``xray_recorder.in_segment(sampling=1)``). Every request makes one
segment with three nested subsegments (``xray_recorder.capture`` and ``in_subsegment``),
annotations and metadata; one request in 50 raises inside a subsegment (caught by the
application, recorded as a fault). Every entity name starts with ``soak-<tag>``.

At exit prints exactly one line: ``SOAK {"tag", "completed_entities", "counters", "rss_kb",
"errors"}``: entities ended, the recorder's counters after a final flush, one RSS sample per
second (VmRSS, from /proc/self/status) and the number of exceptions the driver did not expect.
Run with the venv that has oxray installed, e.g. ``.venv-ci/python/bin/python tests/soak/soak.py``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List

from oxray import Tracer, xray_recorder
from oxray.middleware import XRayWSGIMiddleware

THREADS = 8
SECONDS = float(os.environ.get("OXRAY_SOAK_SECONDS", "60"))
TAG = os.environ.get("OXRAY_SOAK_TAG", "py")
PREFIX = f"soak-{TAG}"
#: Entities each request ends: the segment and three subsegments.
ENTITIES_PER_REQUEST = 4
FAIL_EVERY = 50

tracer = Tracer(service=PREFIX)


class Deliberate(Exception):
    """The exception the application raises on purpose (and catches)."""


@xray_recorder.capture(f"{PREFIX}-query")
def query(n: int) -> int:
    if n % FAIL_EVERY == 0:
        raise Deliberate(f"request {n} fails on purpose")
    return n % 7


@xray_recorder.capture(f"{PREFIX}-price")
def price(n: int) -> Dict[str, Any]:
    tracer.put_annotation("request", n)
    tracer.put_metadata("order", {"n": n, "lines": [n % 3, n % 5], "note": "soak"})
    return {"n": n, "total": n * 3 + 1}


def handle(n: int) -> Dict[str, Any]:
    """The application's work for one request: three subsegments, one of them inside another."""
    result = price(n)
    with xray_recorder.in_subsegment(f"{PREFIX}-load") as load:
        if load is not None:
            load.put_annotation("shard", n % 4)
        try:
            result["stock"] = query(n)
        except Deliberate:
            result["stock"] = None
    return result


def wsgi_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
    result = handle(int(environ["PATH_INFO"].rsplit("/", 1)[-1]))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]


MIDDLEWARE = XRayWSGIMiddleware(wsgi_app, name=f"{PREFIX}-request")
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "soak.local",
    "SERVER_PORT": "80",
    "HTTP_HOST": "soak.local",
    "HTTP_X_AMZN_TRACE_ID": "Sampled=1",
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.url_scheme": "http",
}


def through_middleware(n: int) -> None:
    environ = dict(ENVIRON, PATH_INFO=f"/orders/{n}")
    status: List[str] = []
    body = MIDDLEWARE(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        payload = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    if status != ["200 OK"] or json.loads(payload)["n"] != n:
        raise AssertionError(f"request {n}: wrong answer {status} {payload[:80]!r}")


def through_recorder(n: int) -> None:
    with xray_recorder.in_segment(f"{PREFIX}-job", sampling=1) as segment:
        if segment is not None:
            segment.put_annotation("worker", threading.current_thread().name)
        result = handle(n)
    if result["n"] != n:
        raise AssertionError(f"job {n}: wrong answer {result}")


class Worker(threading.Thread):
    def __init__(self, index: int, stop: threading.Event) -> None:
        super().__init__(name=f"{PREFIX}-{index}", daemon=True)
        self.request = through_middleware if index % 2 == 0 else through_recorder
        self.stop = stop
        self.completed_entities = 0
        self.errors = 0
        self.first_error = ""

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.request(n)
                self.completed_entities += ENTITIES_PER_REQUEST
            except Exception as unexpected:  # noqa: BLE001 - counted and reported, never fatal
                self.errors += 1
                if not self.first_error:
                    self.first_error = repr(unexpected)


def rss_kb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main() -> int:
    if not os.environ.get("AWS_XRAY_DAEMON_ADDRESS"):
        print("soak.py: set AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:<port> (the listener)", file=sys.stderr)
        return 2
    stop = threading.Event()
    workers = [Worker(i, stop) for i in range(THREADS)]
    samples: List[int] = [rss_kb()]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    while True:
        next_sample = started + len(samples)
        if next_sample > started + SECONDS:
            break
        time.sleep(max(0.0, next_sample - time.monotonic()))
        samples.append(rss_kb())
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    flushed = xray_recorder.flush(30.0)
    errors = sum(w.errors for w in workers)
    completed = sum(w.completed_entities for w in workers)
    report = {
        "tag": TAG,
        "completed_entities": completed,
        "counters": xray_recorder.counters(),
        "rss_kb": samples,
        "errors": errors,
    }
    first_errors = [w.first_error for w in workers if w.first_error]
    print(
        f"soak.py: {completed} entities in {elapsed:.1f} s ({completed / elapsed:.0f}/s), "
        f"flushed={flushed}, errors={errors} {first_errors[:1]}",
        file=sys.stderr,
    )
    sys.stdout.write("SOAK " + json.dumps(report, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
