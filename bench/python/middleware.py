"""What oxray's server middleware adds to a request: the same application called with and
without ``XRayWSGIMiddleware`` / ``XRayASGIMiddleware``, in process (no sockets, no event
loop: the ASGI coroutine is driven directly), sending to a local UDP sink.

    python middleware.py [--quick] [--json out.json]

Each case runs in a fresh child process (server mode: no LAMBDA_TASK_ROOT). Traced and
untraced requests alternate in blocks; the figure is the median over blocks of (traced −
untraced) wall-clock time per request (the JSON also has the same for the thread's CPU
time, which a busy machine disturbs less). Sampled documents are sent by oxray's background
thread, which runs on another core when there is one. Rows with Flask / Starlette appear when
they are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from typing import Any, Dict, List

from bench import Sink

HEADERS = {
    "sampled": "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=1",
    "unsampled": "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=0",
    "rules": None,  # no header: the local rules decide (every request sampled)
}
RULES = {"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 1}}

# The child programs' common part (also used by instructions.py): the rules, the header, the
# application, one request's environ / scope, and `request(app)`, which makes one request
# through `app`. {app} defines `plain` (WSGI or ASGI), {kind} is "wsgi" or "asgi".
REQUEST_SETUP = """
import json, sys, time
from oxray import sampling
from oxray.middleware import XRayASGIMiddleware, XRayWSGIMiddleware

sampling.load_rules({rules!r})
header = {header!r}
{app}

ENVIRON = {{
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/orders/42", "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "127.0.0.1:8000", "HTTP_USER_AGENT": "bench/1", "HTTP_ACCEPT": "*/*",
    "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": None,
}}
if header:
    ENVIRON["HTTP_X_AMZN_TRACE_ID"] = header
SCOPE = {{
    "type": "http", "asgi": {{"version": "3.0"}}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/orders/42", "raw_path": b"/orders/42", "query_string": b"",
    "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1"), (b"accept", b"*/*")]
    + ([(b"x-amzn-trace-id", header.encode())] if header else []),
}}

def start_response(status, headers, exc_info=None):
    return None

def wsgi_request(app):
    body = app(dict(ENVIRON), start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()

async def receive():
    return {{"type": "http.request", "body": b"", "more_body": False}}

async def send(message):
    return None

def asgi_request(app):
    coro = app(dict(SCOPE), receive, send)
    try:
        while True:
            coro.send(None)
    except StopIteration:
        pass

request = wsgi_request if {kind!r} == "wsgi" else asgi_request
"""

# Child program: the set-up, then alternating blocks of traced and untraced requests.
CHILD = (
    REQUEST_SETUP
    + """
traced = (XRayWSGIMiddleware if {kind!r} == "wsgi" else XRayASGIMiddleware)(plain)

def per_request(app, n):
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        request(app)
    return (time.perf_counter() - w0) / n * 1e6, (time.thread_time() - c0) / n * 1e6

for app in (plain, traced):  # warm-up
    per_request(app, 2000)
added, base, added_cpu = [], [], []
for block in range({blocks}):
    # Alternate the order, so that drift within a block favours neither.
    if block % 2:
        traced_us, traced_cpu = per_request(traced, {n})
        untraced_us, untraced_cpu = per_request(plain, {n})
    else:
        untraced_us, untraced_cpu = per_request(plain, {n})
        traced_us, traced_cpu = per_request(traced, {n})
    base.append(untraced_us)
    added.append(traced_us - untraced_us)
    added_cpu.append(traced_cpu - untraced_cpu)
print(json.dumps({{"added": added, "base": base, "added_cpu": added_cpu}}))
"""
)

RAW_WSGI_LIST = """
def plain(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
"""

RAW_WSGI_STREAM = """
def plain(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def body():
        yield b"hel"
        yield b"lo"
    return body()
"""

RAW_ASGI = """
async def plain(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
"""

FLASK = """
from flask import Flask
flask_app = Flask("bench")
flask_app.add_url_rule("/orders/<int:order>", "order", lambda order: "hello")
plain = flask_app.wsgi_app
"""

STARLETTE = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
async def order(request):
    return PlainTextResponse("hello")
plain = Starlette(routes=[Route("/orders/{order}", order)])
"""

#: (label, kind, app code, needs)
APPS = [
    ("WSGI, list body", "wsgi", RAW_WSGI_LIST, None),
    ("WSGI, streamed body (2 chunks)", "wsgi", RAW_WSGI_STREAM, None),
    ("ASGI, start + body", "asgi", RAW_ASGI, None),
    ("Flask 3 app (WSGI)", "wsgi", FLASK, "flask"),
    ("Starlette app (ASGI)", "asgi", STARLETTE, "starlette"),
]


def run_case(sink: Sink, kind: str, app: str, header: Any, n: int, blocks: int) -> Dict[str, float]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_XRAY_DAEMON_ADDRESS": sink.address,
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    code = CHILD.format(rules=RULES, header=header, app=textwrap.dedent(app), kind=kind, n=n, blocks=blocks)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    values = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "added_us": statistics.median(values["added"]),
        "added_cpu_us": statistics.median(values["added_cpu"]),
        "base_us": statistics.median(values["base"]),
    }


def both(result: Dict[str, float]) -> str:
    return f"{result['added_us']:.2f} / {result['added_cpu_us']:.2f} µs"


def installed(module: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, noisy)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    n, blocks = (1000, 10) if args.quick else (2000, 60)

    sink = Sink()
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    rows: List[List[str]] = []
    for label, kind, app, needs in APPS:
        if needs and not installed(needs):
            continue
        row = results[label] = {}
        for mode, header in HEADERS.items():
            row[mode] = run_case(sink, kind, app, header, n, blocks)
        rows.append(
            [
                label,
                f"{row['sampled']['base_us']:.2f} µs",
                both(row["sampled"]),
                both(row["rules"]),
                both(row["unsampled"]),
                " / ".join(
                    "yes" if max(r[key] for r in row.values()) <= 5 else "NO" for key in ("added_us", "added_cpu_us")
                ),
            ]
        )
    received = sink.settle()
    sink.close()

    header = [
        "application (in process)",
        "untraced request",
        "added (wall / thread CPU): Sampled=1 header",
        "… sampled by rules",
        "… Sampled=0",
        "≤ 5 µs (wall / CPU)",
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\ndatagrams received by the UDP sink: {received}; python {sys.version.split()[0]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "datagrams": received}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
