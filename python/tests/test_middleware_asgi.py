"""The ASGI middleware against hand-written ASGI applications, driven as a server drives them:
pass-through of other scopes, response messages, streaming and the end time, exceptions before
and after the response, cancellation, trailers, odd messages, and concurrent requests.
Documents are kept in memory and validated."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List

import pytest

from conftest import check_document, reset_oxray
from oxray import Tracer, _core, _errors, _runtime
from oxray.middleware import XRayASGIMiddleware

T = "1-6740c2a1-5f1e2d3c4b5a69788796a5b4"


@pytest.fixture
def rec(monkeypatch):
    for key in ("LAMBDA_TASK_ROOT", "AWS_XRAY_TRACING_NAME", "POWERTOOLS_SERVICE_NAME", "AWS_XRAY_SDK_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    reset_oxray()
    recorder = _core.Recorder(json.dumps({"emit_mode": "memory", "sample_rate": 1.0}))
    _runtime.swap(recorder)
    yield recorder
    reset_oxray()


def documents(rec: _core.Recorder) -> List[Dict[str, Any]]:
    rec.flush(5.0)
    return [check_document(doc) for doc in rec.take_documents()]


def scope(**extra: Any) -> Dict[str, Any]:
    base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"secret=1",
        "root_path": "",
        "headers": [(b"host", b"shop.example.org:8080"), (b"user-agent", b"curl/8")],
        "client": ("192.0.2.10", 50000),
        "server": ("10.0.0.2", 8080),
    }
    base.update(extra)
    return base


class Conversation:
    """The server's side: what was sent, and a receive() that gives an empty request body."""

    def __init__(self) -> None:
        self.sent: List[Any] = []
        self.segments_sent_meanwhile: List[int] = []

    async def receive(self) -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Any) -> None:
        self.sent.append(message)

    def headers(self) -> List[tuple]:
        start = next(m for m in self.sent if isinstance(m, dict) and m["type"] == "http.response.start")
        return list(start["headers"])

    def trace_header(self) -> str:
        [value] = [v for k, v in self.headers() if k.lower() == b"x-amzn-trace-id"]
        return value.decode()


def run(app: Any, request_scope: Dict[str, Any]) -> Conversation:
    conversation = Conversation()
    asyncio.run(app(request_scope, conversation.receive, conversation.send))
    return conversation


def responder(status: int = 200, headers: Any = None, chunks: Any = (b"ok",)) -> Any:
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": headers or []})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})

    return app


# -- pass-through -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_pass_through_untouched(rec, kind):
    seen = []

    async def app(s, receive, send):
        seen.append((s, receive, send))

    request_scope = {"type": kind}
    conversation = Conversation()
    asyncio.run(XRayASGIMiddleware(app)(request_scope, conversation.receive, conversation.send))
    [(s, receive, send)] = seen
    assert s is request_scope and receive == conversation.receive and send == conversation.send
    assert documents(rec) == []


# -- responses ------------------------------------------------------------------------------------------


def test_request_and_response_fields(rec):
    app_headers = [(b"content-type", b"text/plain"), (b"x-amzn-trace-id", b"Root=set-by-the-app")]
    start = {"type": "http.response.start", "status": 201, "headers": app_headers}

    async def app(scope, receive, send):
        await send(start)
        await send({"type": "http.response.body", "body": b"made"})

    headers = scope()["headers"] + [(b"x-forwarded-for", b"203.0.113.9")]
    conversation = run(XRayASGIMiddleware(app, name="items"), scope(method="post", headers=headers))
    [seg] = documents(rec)
    assert seg["name"] == "items"
    assert seg["http"] == {
        "request": {
            "method": "POST",
            "url": "http://shop.example.org:8080/items",
            "user_agent": "curl/8",
            "client_ip": "203.0.113.9",
            "x_forwarded_for": True,
        },
        "response": {"status": 201, "content_length": 4},
    }
    assert conversation.trace_header() == f"Root={seg['trace_id']}"
    assert (b"content-type", b"text/plain") in conversation.headers()
    # The app's message and header list are not changed.
    assert start["headers"] is app_headers and len(app_headers) == 2


@pytest.mark.parametrize("name", [None, "named"])
def test_request_fields_when_the_incoming_header_decided(rec, name):
    # With Sampled=1 the sampler reads nothing; the fields are read for the record all the same.
    headers = [(b"x-amzn-trace-id", f"Root={T};Sampled=1".encode())]
    run(XRayASGIMiddleware(responder(), name=name), scope(method="put", headers=headers))
    [seg] = documents(rec)
    assert seg["trace_id"] == T
    assert seg["name"] == (name or "10.0.0.2")  # no Host header: the server's address
    assert seg["http"]["request"] == {"method": "PUT", "url": "http://10.0.0.2:8080/items", "client_ip": "192.0.2.10"}


def test_a_streamed_body_ends_the_segment_at_its_last_chunk(rec):
    marks: List[str] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
        for chunk, more in ((b"ab", True), (b"cd", True), (b"ef", False)):
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            marks.append(f"sent {chunk.decode()}; documents so far: {len(rec.take_documents())}")
        await asyncio.sleep(0.01)  # e.g. a background task after the response
        after_background.append(time.time())

    after_background: List[float] = []
    run(XRayASGIMiddleware(app), scope())
    assert marks == ["sent ab; documents so far: 0", "sent cd; documents so far: 0", "sent ef; documents so far: 0"]
    [seg] = documents(rec)
    assert seg["http"]["response"] == {"status": 200, "content_length": 6}
    assert seg["end_time"] < after_background[0], "the segment ends with the response, not the app"


def test_the_host_falls_back_to_the_server_address(rec):
    run(XRayASGIMiddleware(responder()), scope(headers=[], server=("10.0.0.2", 80), client=None))
    [seg] = documents(rec)
    assert seg["name"] == "10.0.0.2"
    assert seg["http"]["request"] == {"method": "GET", "url": "http://10.0.0.2/items"}


def test_trailers_end_the_response(rec):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"abc", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")], "more_trailers": False})

    conversation = run(XRayASGIMiddleware(app), scope())
    assert [m["type"] for m in conversation.sent][-1] == "http.response.trailers"
    [seg] = documents(rec)
    assert seg["http"]["response"] == {"status": 200, "content_length": 3}


@pytest.mark.parametrize("message", [None, "text", 42, {"no": "type"}, {"type": 7}, {"type": "http.custom"}])
def test_odd_messages_go_to_the_server_as_they_are(rec, message):
    async def app(scope, receive, send):
        await send(message)
        await responder()(scope, receive, send)

    conversation = run(XRayASGIMiddleware(app), scope())
    assert conversation.sent[0] is message
    assert len(documents(rec)) == 1


@pytest.mark.parametrize("make", [tuple, iter], ids=["tuple", "iterator"])
def test_header_collections_other_than_lists_are_read_through_their_iterators(rec, make):
    incoming = [(b"host", b"a.example"), (b"x-amzn-trace-id", f"Root={T};Parent=53995c3f42cd8ad8;Sampled=1".encode())]
    app_headers = [(b"content-length", b"2"), (b"x-amzn-trace-id", b"Root=set-by-the-app")]
    app = XRayASGIMiddleware(responder(headers=make(app_headers), chunks=(b"ok",)))
    conversation = run(app, scope(headers=make(incoming)))
    [answer] = [v for k, v in conversation.headers() if k == b"x-amzn-trace-id"]
    assert answer == f"Root={T}".encode()
    assert (b"content-length", b"2") in conversation.headers()
    [segment] = documents(rec)
    assert segment["trace_id"] == T and segment["parent_id"] == "53995c3f42cd8ad8"
    assert segment["http"]["request"]["url"] == "http://a.example/items"
    assert segment["http"]["response"] == {"status": 200, "content_length": 2}


@pytest.mark.parametrize(
    "headers",
    [None, 42, [(b"only-a-name",)], [("str", "pair")], [[b"x-list", b"pair"]]],
)
def test_response_headers_it_cannot_read_are_passed_on(rec, headers):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    conversation = run(XRayASGIMiddleware(app), scope())
    start = conversation.sent[0]
    if headers in (None, 42) or headers == [(b"only-a-name",)]:
        assert start["headers"] is headers or start["headers"][:1] == headers[:1]
    else:
        assert list(start["headers"])[: len(headers)] == headers
    assert documents(rec)[0]["http"]["response"]["status"] == 200


# -- exceptions ---------------------------------------------------------------------------------------------


class AppError(Exception):
    pass


def test_an_exception_before_the_response_is_a_500(rec):
    raised = AppError("no stock")

    async def app(scope, receive, send):
        raise raised

    with pytest.raises(AppError) as caught:
        run(XRayASGIMiddleware(app), scope())
    assert caught.value is raised and raised.__dict__ == {}
    [seg] = documents(rec)
    assert seg["http"]["response"] == {"status": 500}
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["message"] == "no stock"
    assert not _errors._recorded


def test_an_exception_after_the_response_is_still_recorded(rec):
    """Starlette's ServerErrorMiddleware sends the 500, then re-raises."""

    async def app(scope, receive, send):
        await responder(500, chunks=(b"Internal Server Error",))(scope, receive, send)
        raise AppError("after the 500")

    with pytest.raises(AppError):
        run(XRayASGIMiddleware(app), scope())
    [seg] = documents(rec)
    assert seg["http"]["response"] == {"status": 500, "content_length": 21}
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["message"] == "after the 500"


def test_cancellation_is_not_a_fault(rec):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        run(XRayASGIMiddleware(app), scope())
    [seg] = documents(rec)
    assert "fault" not in seg and "cause" not in seg
    assert seg["http"]["response"] == {"status": 200}


def test_an_app_that_never_responds_is_traced_without_a_response(rec):
    async def app(scope, receive, send):
        await receive()

    run(XRayASGIMiddleware(app), scope())
    [seg] = documents(rec)
    assert "response" not in seg["http"] and "fault" not in seg


@pytest.mark.parametrize(
    "request_scope",
    [
        {"type": "http"},
        {"type": "http", "headers": None, "client": "nope", "server": [None, "x"], "method": 5},
        {"type": "http", "headers": [(b"host", b"")], "path": ""},
        {"type": "http", "headers": [b"not-a-pair", (b"x-amzn-trace-id", b"\xff\xfe")]},
    ],
)
def test_odd_scopes_are_traced_as_far_as_they_can_be(rec, request_scope):
    conversation = run(XRayASGIMiddleware(responder()), request_scope)
    [seg] = documents(rec)
    assert seg["name"] == "unnamed"
    assert conversation.trace_header() == f"Root={seg['trace_id']}"


def test_the_incoming_decision_and_sampled_requested(rec):
    headers = [(b"host", b"a.example"), (b"x-amzn-trace-id", f"Root={T};Parent=53995c3f42cd8ad8;Sampled=0".encode())]
    conversation = run(XRayASGIMiddleware(responder()), scope(headers=headers))
    assert conversation.trace_header() == f"Root={T}"
    assert documents(rec) == []
    headers = [(b"host", b"a.example"), (b"x-amzn-trace-id", f"Root={T};Sampled=?".encode())]
    conversation = run(XRayASGIMiddleware(responder()), scope(headers=headers))
    assert conversation.trace_header() == f"Root={T};Sampled=1"
    assert documents(rec)[0]["trace_id"] == T


# -- concurrency --------------------------------------------------------------------------------------------


def test_concurrent_requests_keep_their_own_subsegments(rec):
    tracer = Tracer(service="shop")

    @tracer.capture_method
    async def handle(number: str) -> str:
        tracer.put_annotation("Number", number)
        await asyncio.sleep(0.001 * (int(number) % 3))
        return number

    async def app(scope, receive, send):
        number = scope["path"].strip("/")
        body = (await handle(number)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    middleware = XRayASGIMiddleware(app)

    async def many() -> List[Conversation]:
        conversations = [Conversation() for _ in range(30)]
        await asyncio.gather(*(middleware(scope(path=f"/{n}"), c.receive, c.send) for n, c in enumerate(conversations)))
        return conversations

    conversations = asyncio.run(many())
    docs = documents(rec)
    assert len(docs) == 30
    by_trace = {d["trace_id"]: d for d in docs}
    for number, conversation in enumerate(conversations):
        seg = by_trace[conversation.trace_header()[len("Root=") :]]
        [sub] = seg["subsegments"]
        assert sub["annotations"]["Number"] == str(number)
        assert seg["http"]["request"]["url"].endswith(f"/{number}")


# -- the native start of a request: odd scopes and set-up ---------------------------------------------


def test_a_scope_of_a_dict_subclass_is_traced(rec):
    class Scope(dict):
        pass

    conversation = run(XRayASGIMiddleware(responder(), name="mapped"), Scope(scope()))
    assert conversation.trace_header().startswith("Root=")
    [doc] = documents(rec)
    assert doc["name"] == "mapped"


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_a_scope_that_is_not_a_dict_is_asked_for_its_type_and_passed_through(rec, caplog, kind):
    from collections import UserDict

    seen = []

    async def app(s, receive, send):
        seen.append(send)

    conversation = Conversation()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        asyncio.run(XRayASGIMiddleware(app)(UserDict(scope(type=kind)), conversation.receive, conversation.send))
    assert seen == [conversation.send] and documents(rec) == []
    # An HTTP request whose scope the middleware cannot read is not traced, with a warning.
    assert any("request not traced" in r.getMessage() for r in caplog.records) == (kind == "http")


def test_tracing_off_passes_the_request_through(rec, monkeypatch):
    from oxray import _capture

    monkeypatch.setattr(_capture, "_ENABLED", False)
    seen = []

    async def app(s, receive, send):
        seen.append(send)

    conversation = Conversation()
    asyncio.run(XRayASGIMiddleware(app)(scope(), conversation.receive, conversation.send))
    assert seen == [conversation.send] and documents(rec) == []


def test_the_application_can_be_replaced_and_the_segment_is_current_only_inside(rec):
    from oxray.context import _current

    seen = []

    async def app(s, receive, send):
        seen.append(_current.get())
        await responder()(s, receive, send)

    middleware = XRayASGIMiddleware(responder(), name="swapped")
    middleware.app = app
    assert middleware.app is app
    run(middleware, scope())
    assert seen[0] is not None and seen[0].name == "swapped"
    [doc] = documents(rec)
    assert doc["name"] == "swapped"
