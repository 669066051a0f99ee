"""Real web applications for the server-mode tests, and ways to serve them.

Every application (Flask, Django over WSGI and ASGI, FastAPI) has the same routes, built per
test around a :class:`Work` object whose functions are decorated with that test's Tracer:

| route | answer |
|---|---|
| ``/hello`` | 200 ``hello`` |
| ``/health`` | 200 ``ok`` (never sampled by :data:`RULES`) |
| ``/missing`` | the framework's own 404 |
| ``/throttled`` | 429 |
| ``/fail`` | 503 |
| ``/boom`` | raises ``RuntimeError("boom")`` |
| ``/stream`` | ``a``, ``bb``, ``ccc`` streamed; each chunk made by a traced function |
| ``/work?id=`` | a traced function: annotation, metadata, requests to the downstream, sqlite3 |
| ``/work-async?id=`` | (ASGI only) traced coroutines: httpx and aiohttp to the downstream |
| ``/relay?to=`` | requests to ``to`` (another traced server), answers its status |

Served in process (werkzeug test client; httpx's ASGI transport) or over 127.0.0.1 (werkzeug
and wsgiref server threads; uvicorn in a thread).
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

import requests

from oxray import xray_recorder
from oxray.middleware import XRayASGIMiddleware, XRayWSGIMiddleware

#: Every request sampled, except /health, never.
RULES = {
    "version": 2,
    "rules": [
        {
            "description": "health checks",
            "host": "*",
            "http_method": "*",
            "url_path": "/health",
            "fixed_target": 0,
            "rate": 0,
        }
    ],
    "default": {"fixed_target": 0, "rate": 1},
}

CHUNKS = (b"a", b"bb", b"ccc")


class Work:
    """What the routes do, traced with ``tracer``; calls go to ``downstream`` (a base URL)."""

    def __init__(self, tracer: Any, downstream: str) -> None:
        self.downstream = downstream
        #: time.time() after the last chunk of a streamed body was made.
        self.streamed_at: List[float] = []

        @tracer.capture_method
        def fetch_order(order_id: str) -> Dict[str, Any]:
            tracer.put_annotation("OrderId", order_id)
            xray_recorder.put_metadata("stage", "fetch")
            reply = requests.get(f"{downstream}/orders/{order_id}", timeout=10)
            db = sqlite3.connect(":memory:")
            db.execute("select 1").fetchall()
            db.close()
            return {"order": order_id, "downstream": reply.status_code}

        @tracer.capture_method
        def step(index: int) -> int:
            return index

        @tracer.capture_method
        async def fetch_async(order_id: str) -> Dict[str, Any]:
            import aiohttp
            import httpx

            async with httpx.AsyncClient() as client:
                first = await client.get(f"{downstream}/orders/{order_id}?via=httpx")
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{downstream}/orders/{order_id}?via=aiohttp") as reply:
                    second = reply.status
            both = await asyncio.gather(part("left"), part("right"))
            return {"order": order_id, "httpx": first.status_code, "aiohttp": second, "parts": both}

        @tracer.capture_method
        async def part(label: str) -> str:
            await asyncio.sleep(0)
            return label

        self.fetch_order = fetch_order
        self.step = step
        self.fetch_async = fetch_async

    def chunks(self) -> Iterator[bytes]:
        for index, chunk in enumerate(CHUNKS):
            self.step(index)
            yield chunk
        self.streamed_at.append(time.time())

    async def achunks(self) -> Any:
        for index, chunk in enumerate(CHUNKS):
            self.step(index)
            await asyncio.sleep(0)
            yield chunk
        self.streamed_at.append(time.time())

    @staticmethod
    def relay(target: str) -> int:
        return requests.get(target, timeout=10).status_code


# -- applications -------------------------------------------------------------------------------


def flask_app(work: Work, **middleware: Any) -> Any:
    from flask import Flask, Response, jsonify, request

    app = Flask("shop")
    app.add_url_rule("/hello", "hello", lambda: "hello")
    app.add_url_rule("/health", "health", lambda: "ok")
    app.add_url_rule("/throttled", "throttled", lambda: ("slow down", 429))
    app.add_url_rule("/fail", "fail", lambda: ("unavailable", 503))

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("boom")

    @app.get("/stream")
    def stream() -> Any:
        return Response(work.chunks(), mimetype="text/plain")

    @app.get("/work")
    def do_work() -> Any:
        return jsonify(work.fetch_order(request.args.get("id", "o-1")))

    @app.get("/relay")
    def relay() -> Any:
        return str(work.relay(request.args["to"]))

    app.wsgi_app = XRayWSGIMiddleware(app.wsgi_app, **middleware)
    return app


def django_wsgi_app(work: Work, **middleware: Any) -> Any:
    from django.core.wsgi import get_wsgi_application

    import djangoapp

    djangoapp.configure(work)
    return XRayWSGIMiddleware(get_wsgi_application(), **middleware)


def django_asgi_app(work: Work, **middleware: Any) -> Any:
    from django.core.asgi import get_asgi_application

    import djangoapp

    djangoapp.configure(work)
    return XRayASGIMiddleware(get_asgi_application(), **middleware)


def fastapi_app(work: Work, **middleware: Any) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse, StreamingResponse

    app = FastAPI()

    @app.get("/hello", response_class=PlainTextResponse)
    def hello() -> str:  # a plain def: FastAPI runs it in its thread pool
        return "hello"

    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> str:
        return "ok"

    @app.get("/throttled")
    async def throttled() -> Any:
        return PlainTextResponse("slow down", status_code=429)

    @app.get("/fail")
    async def fail() -> Any:
        return PlainTextResponse("unavailable", status_code=503)

    @app.get("/boom")
    async def boom() -> Any:
        raise RuntimeError("boom")

    @app.get("/stream")
    async def stream() -> Any:
        return StreamingResponse(work.achunks(), media_type="text/plain")

    @app.get("/work")
    def do_work(id: str = "o-1") -> Any:
        return work.fetch_order(id)

    @app.get("/work-async")
    async def do_work_async(id: str = "o-1") -> Any:
        return await work.fetch_async(id)

    @app.get("/relay", response_class=PlainTextResponse)
    def relay(to: str) -> str:
        return str(work.relay(to))

    app.add_middleware(XRayASGIMiddleware, **middleware)
    return app


APPS: Dict[str, Callable[..., Any]] = {
    "flask": flask_app,
    "django": django_wsgi_app,
    "django-asgi": django_asgi_app,
    "fastapi": fastapi_app,
}
ASGI = {"django-asgi", "fastapi"}


# -- clients and servers ----------------------------------------------------------------------------


class Reply(NamedTuple):
    status: int
    headers: Dict[str, str]  # names lower-cased
    body: bytes
    header_list: List[Any] = []  # as received (over a socket)

    @property
    def trace_header(self) -> Optional[str]:
        return self.headers.get("x-amzn-trace-id")


class InProcessWSGI:
    """werkzeug's test client: the WSGI application is called in this thread."""

    host = "localhost"

    def __init__(self, app: Any) -> None:
        from werkzeug.test import Client

        self.client = Client(app)

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> Reply:
        reply = self.client.get(path, headers=headers or {}, buffered=True, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        return Reply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.get_data())


class InProcessASGI:
    """httpx's ASGI transport: the application runs in this thread's event loop. An
    exception the application raises is answered 500 (``raise_app_exceptions=False``)."""

    host = "testserver"

    def __init__(self, app: Any, raise_app_exceptions: bool = False) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> Reply:
        import httpx

        async def go() -> Reply:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=self.raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                reply = await client.get(path, headers=headers or {})
                return Reply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content)

        return asyncio.run(go())


class OverSocket:
    """An HTTP/1.1 client (http.client) for a server on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            reply = conn.getresponse()
            body = reply.read()
            raw = reply.getheaders()
            return Reply(reply.status, {k.lower(): v for k, v in raw}, body, raw)
        finally:
            conn.close()


@contextmanager
def werkzeug_server(app: Any) -> Iterator[OverSocket]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield OverSocket(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def wsgiref_server(app: Any) -> Iterator[OverSocket]:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield OverSocket(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def uvicorn_server(app: Any) -> Iterator[OverSocket]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # start-up guard, not a timing assertion
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield OverSocket(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@contextmanager
def in_process(app: Any, asgi: bool) -> Iterator[Any]:
    yield InProcessASGI(app) if asgi else InProcessWSGI(app)


#: variant id → (application, how it is served).
VARIANTS = {
    "flask-inprocess": ("flask", "inprocess"),
    "flask-werkzeug": ("flask", "werkzeug"),
    "django-inprocess": ("django", "inprocess"),
    "django-wsgiref": ("django", "wsgiref"),
    "django-asgi-inprocess": ("django-asgi", "inprocess"),
    "fastapi-inprocess": ("fastapi", "inprocess"),
    "fastapi-uvicorn": ("fastapi", "uvicorn"),
}


@contextmanager
def serve(app: Any, framework: str, how: str) -> Iterator[Any]:
    if how == "inprocess":
        with in_process(app, framework in ASGI) as client:
            yield client
    else:
        server = {"werkzeug": werkzeug_server, "wsgiref": wsgiref_server, "uvicorn": uvicorn_server}[how]
        with server(app) as client:
            yield client
