"""The WSGI middleware against hand-written WSGI applications: laziness of streamed bodies,
close(), exceptions at every stage, headers it must not break, odd environs and incoming
headers, and concurrency in a threaded server. Documents are kept in memory and validated."""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any, Dict, List, Optional

import pytest

import webapps
from conftest import check_document, reset_oxray
from oxray import Tracer, _core, _errors, _runtime, xray_recorder
from oxray.context import _current
from oxray.middleware import XRayWSGIMiddleware

T = "1-6740c2a1-5f1e2d3c4b5a69788796a5b4"


class Memory:
    def __init__(self, rec: _core.Recorder) -> None:
        self.rec = rec

    def documents(self) -> List[Dict[str, Any]]:
        self.rec.flush(5.0)
        return [check_document(doc) for doc in self.rec.take_documents()]

    def segment(self) -> Dict[str, Any]:
        [doc] = self.documents()
        return doc


@pytest.fixture
def memory(monkeypatch):
    for key in ("LAMBDA_TASK_ROOT", "AWS_XRAY_TRACING_NAME", "POWERTOOLS_SERVICE_NAME", "AWS_XRAY_SDK_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    reset_oxray()
    rec = _core.Recorder(json.dumps({"emit_mode": "memory", "sample_rate": 1.0}))
    _runtime.swap(rec)
    yield Memory(rec)
    reset_oxray()


def environ(**extra: Any) -> Dict[str, Any]:
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/items",
        "QUERY_STRING": "secret=1",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "HTTP_HOST": "shop.example.org:8080",
        "REMOTE_ADDR": "192.0.2.10",
        "wsgi.url_scheme": "http",
    }
    base.update(extra)
    return base


class Server:
    """A stand-in for a WSGI server's side of start_response."""

    def __init__(self) -> None:
        self.calls: List[tuple] = []

    def start_response(self, *args: Any) -> Any:
        self.calls.append(args)
        return lambda data: None

    @property
    def headers(self) -> Any:
        return self.calls[-1][1]


def header_values(headers: List[tuple], name: str) -> List[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


# -- streamed bodies ------------------------------------------------------------------------------


def test_a_streamed_body_is_read_by_the_server_only(memory):
    events: List[str] = []

    def app(env, start_response):
        events.append("called")
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            try:
                for chunk in (b"one", b"two"):
                    current = xray_recorder.current_segment()
                    events.append(f"make {chunk.decode()} under {current.name if current else None}")
                    yield chunk
            finally:
                events.append("app closed")

        return body()

    server = Server()
    result = XRayWSGIMiddleware(app, name="lazy")(environ(), server.start_response)
    assert events == ["called"]
    assert _current.get() is None, "the segment is current only while the app runs"
    assert next(iter(result)) == b"one"
    assert events == ["called", "make one under lazy"]
    assert list(result) == [b"two"]
    assert memory.documents() == [], "sent when the server closes the response"
    result.close()
    assert events[-1] == "app closed"
    seg = memory.segment()
    assert seg["name"] == "lazy"
    assert seg["http"]["response"] == {"status": 200, "content_length": 6}
    assert header_values(server.headers, "X-Amzn-Trace-Id") == [f"Root={seg['trace_id']}"]


def test_a_response_closed_early_is_not_a_fault(memory):
    def app(env, start_response):
        start_response("200 OK", [])
        return (chunk for chunk in (b"first", b"never"))

    result = XRayWSGIMiddleware(app)(environ(), Server().start_response)
    assert next(iter(result)) == b"first"
    result.close()  # the client went away
    seg = memory.segment()
    assert seg["http"]["response"] == {"status": 200, "content_length": 5}
    assert "fault" not in seg and "cause" not in seg


def test_a_list_body_ends_the_segment_at_once_and_is_returned_as_is(memory):
    body = [b"ab", b"c"]

    def app(env, start_response):
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    assert XRayWSGIMiddleware(app)(environ(), Server().start_response) is body
    assert memory.segment()["http"]["response"] == {"status": 201, "content_length": 3}


def test_an_iterator_class_ending_with_stop_iteration_is_made_and_closed_in_the_segment(memory):
    # A framework's response iterable (like werkzeug's ClosingIterator): __next__ in Python,
    # ending with StopIteration, and a close() callback.
    seen: List[str] = []

    class Closing:
        def __init__(self) -> None:
            self.chunks = [b"ab", b"cde"]

        def __iter__(self) -> Any:
            return self

        def __next__(self) -> bytes:
            seen.append(f"next under {_current.get().name}")
            if not self.chunks:
                raise StopIteration
            return self.chunks.pop(0)

        def close(self) -> None:
            seen.append(f"close under {_current.get().name}")

    def app(env, start_response):
        start_response("200 OK", [])
        return Closing()

    result = XRayWSGIMiddleware(app, name="closing")(environ(), Server().start_response)
    assert list(result) == [b"ab", b"cde"]
    assert memory.documents() == [], "not over before close()"
    result.close()
    assert seen == ["next under closing"] * 3 + ["close under closing"]
    assert memory.segment()["http"]["response"] == {"status": 200, "content_length": 5}


def test_a_streamed_body_runs_in_one_copy_of_the_request_context(memory):
    # Each item is made in the same copy of the request's context (as Context.run does): a
    # variable the body sets is seen by its next item and by close(), never by the server.
    from contextvars import ContextVar

    mark: ContextVar[str] = ContextVar("mark", default="unset")
    seen: List[str] = []

    def app(env, start_response):
        start_response("200 OK", [])

        def body():
            try:
                seen.append(f"first: {mark.get()} under {_current.get().name}")
                mark.set("set by the body")
                yield b"a"
                seen.append(f"second: {mark.get()} under {_current.get().name}")
                yield b"bc"
            finally:
                seen.append(f"closed: {mark.get()} under {_current.get().name}")

        return body()

    result = XRayWSGIMiddleware(app, name="ctx")(environ(), Server().start_response)
    assert next(result) == b"a"
    assert mark.get() == "unset" and _current.get() is None, "the server's context is untouched"
    assert next(result) == b"bc"
    with pytest.raises(StopIteration):
        next(result)
    with pytest.raises(StopIteration):
        next(result)  # an ended body stays ended
    result.close()
    assert seen == [
        "first: unset under ctx",
        "second: set by the body under ctx",
        "closed: set by the body under ctx",
    ]
    assert memory.segment()["http"]["response"] == {"status": 200, "content_length": 3}


def test_the_apps_close_is_called_once_and_the_segment_sent_once(memory):
    closed: List[str] = []

    class Body:
        def __iter__(self):
            return iter([b"xy"])

        def close(self):
            closed.append(_current.get().name)

    def app(env, start_response):
        start_response("200 OK", [])
        return Body()

    result = XRayWSGIMiddleware(app, name="once")(environ(), Server().start_response)
    assert list(result) == [b"xy"]
    result.close()
    assert closed == ["once"]
    [seg] = memory.documents()
    assert seg["http"]["response"] == {"status": 200, "content_length": 2}


def streams_then_fails(chunk: bytes) -> Any:
    """A WSGI app answering 200 whose body yields `chunk`, then raises AppError("stream broke")."""

    def app(env, start_response):
        start_response("200 OK", [])

        def body():
            yield chunk
            raise AppError("stream broke")

        return body()

    return app


def test_an_exception_on_a_later_item_is_recorded_once_with_the_bytes_sent(memory):
    result = XRayWSGIMiddleware(streams_then_fails(b"abc"))(environ(), Server().start_response)
    assert next(result) == b"abc"
    with pytest.raises(AppError, match="stream broke"):
        next(result)
    assert _current.get() is None
    result.close()  # the server still closes the response
    [seg] = memory.documents()
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["message"] == "stream broke"
    assert seg["http"]["response"]["status"] == 200


def test_a_body_that_reads_itself_gets_the_context_error(memory):
    # Re-entering the body from one of its own items enters its context twice: the same
    # RuntimeError Context.run raises; it is recorded and raised on.
    holder: List[Any] = []

    def app(env, start_response):
        start_response("200 OK", [])

        def body():
            yield next(holder[0])

        return body()

    result = XRayWSGIMiddleware(app)(environ(), Server().start_response)
    holder.append(result)
    with pytest.raises(RuntimeError, match="already entered"):
        next(result)
    result.close()
    assert memory.segment()["fault"] is True


def test_the_server_state_needs_a_context_variable(memory):
    from oxray.middleware import _request

    capture, hooks = vars(_request._capture), _request.HOOKS
    with pytest.raises(TypeError):
        _core.ServerState(capture, vars(_runtime), xray_recorder, Tracer, object(), hooks, print)


def test_content_length_header_wins_over_the_bytes_seen(memory):
    def app(env, start_response):
        start_response("200 OK", [("content-length", "3")])
        return iter([b"abc"])

    result = XRayWSGIMiddleware(app)(environ(REQUEST_METHOD="HEAD"), Server().start_response)
    result.close()  # a HEAD response: the server sends no body
    assert memory.segment()["http"]["response"] == {"status": 200, "content_length": 3}


# -- exceptions -------------------------------------------------------------------------------------


class AppError(Exception):
    pass


def test_an_exception_before_the_response_is_a_500_and_is_reraised_unchanged(memory):
    raised = AppError("no stock")

    def app(env, start_response):
        raise raised

    with pytest.raises(AppError) as caught:
        XRayWSGIMiddleware(app)(environ(), Server().start_response)
    assert caught.value is raised and raised.__dict__ == {}
    seg = memory.segment()
    assert seg["http"]["response"] == {"status": 500}
    assert seg["fault"] is True
    [exc] = seg["cause"]["exceptions"]
    assert (exc["type"], exc["message"]) == ("AppError", "no stock")
    assert not _errors._recorded


def test_an_exception_while_streaming_is_recorded_with_the_status_sent(memory):
    result = XRayWSGIMiddleware(streams_then_fails(b"partial"))(environ(), Server().start_response)
    iterator = iter(result)
    assert next(iterator) == b"partial"
    with pytest.raises(AppError, match="stream broke"):
        next(iterator)
    result.close()
    seg = memory.segment()
    assert seg["http"]["response"] == {"status": 200, "content_length": 7}
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["type"] == "AppError"


def test_the_body_iterator_is_made_in_the_segment_and_its_exception_recorded(memory):
    seen: List[str] = []

    class Body:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def __iter__(self) -> Any:
            seen.append(f"iter under {_current.get().name}")
            if self.fail:
                raise AppError("no iterator")
            return iter([b"ok"])

    def app(env, start_response):
        start_response("200 OK", [])
        return Body(env["PATH_INFO"] == "/fail")

    result = XRayWSGIMiddleware(app, name="iter")(environ(), Server().start_response)
    assert list(result) == [b"ok"]
    result.close()
    assert memory.segment()["http"]["response"] == {"status": 200, "content_length": 2}
    with pytest.raises(AppError, match="no iterator"):
        XRayWSGIMiddleware(app, name="iter")(environ(PATH_INFO="/fail"), Server().start_response)
    assert _current.get() is None
    seg = memory.segment()
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["message"] == "no iterator"
    assert seen == ["iter under iter"] * 2


def test_an_exception_in_close_is_recorded_and_reraised(memory):
    class Body:
        def __iter__(self):
            return iter([b"x"])

        def close(self):
            raise AppError("close failed")

    def app(env, start_response):
        start_response("200 OK", [])
        return Body()

    result = XRayWSGIMiddleware(app)(environ(), Server().start_response)
    assert list(result) == [b"x"]
    with pytest.raises(AppError, match="close failed"):
        result.close()
    seg = memory.segment()
    assert seg["fault"] is True and seg["cause"]["exceptions"][0]["message"] == "close failed"


def test_an_exception_recorded_by_capture_method_is_referenced_by_the_segment(memory):
    tracer = Tracer(service="shop")

    @tracer.capture_method
    def charge():
        raise AppError("card declined")

    def app(env, start_response):
        charge()

    with pytest.raises(AppError):
        XRayWSGIMiddleware(app)(environ(), Server().start_response)
    seg = memory.segment()
    [sub] = seg["subsegments"]
    [exc] = sub["cause"]["exceptions"]
    assert seg["cause"] == exc["id"], "the segment points at the subsegment's record"
    assert seg["fault"] is True and not _errors._recorded


def test_keyboard_interrupt_ends_the_segment_without_a_fault(memory):
    def app(env, start_response):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        XRayWSGIMiddleware(app)(environ(), Server().start_response)
    seg = memory.segment()
    assert "fault" not in seg and "http" in seg and "response" not in seg["http"]


def test_start_response_with_exc_info_is_passed_on(memory):
    def app(env, start_response):
        try:
            raise AppError("late")
        except AppError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"sorry"]

    server = Server()
    XRayWSGIMiddleware(app)(environ(), server.start_response)
    status, headers, exc_info = server.calls[-1]
    assert status.startswith("500") and exc_info[0] is AppError
    assert memory.segment()["fault"] is True


# -- headers -------------------------------------------------------------------------------------------

SHARED_HEADERS = [("Content-Type", "text/plain"), ("X-Amzn-Trace-Id", "Root=set-by-the-app")]


def test_the_apps_header_list_is_not_changed_and_its_trace_header_is_replaced(memory):
    def app(env, start_response):
        start_response("200 OK", SHARED_HEADERS)
        return [b"ok"]

    middleware = XRayWSGIMiddleware(app)
    for _ in range(2):
        server = Server()
        middleware(environ(), server.start_response)
        assert len(header_values(server.headers, "X-Amzn-Trace-Id")) == 1
        assert header_values(server.headers, "X-Amzn-Trace-Id")[0] != "Root=set-by-the-app"
        assert header_values(server.headers, "Content-Type") == ["text/plain"]
    assert SHARED_HEADERS == [("Content-Type", "text/plain"), ("X-Amzn-Trace-Id", "Root=set-by-the-app")]
    assert len(memory.documents()) == 2


@pytest.mark.parametrize("make", [tuple, iter], ids=["tuple", "iterator"])
def test_a_header_collection_other_than_a_list_is_read_through_its_iterator(memory, make):
    def app(env, start_response):
        start_response("200 OK", make([("Content-Length", "2"), ("X-Amzn-Trace-Id", "Root=set-by-the-app")]))
        return [b"ok"]

    server = Server()
    XRayWSGIMiddleware(app)(environ(), server.start_response)
    assert header_values(server.headers, "Content-Length") == ["2"]
    [answer] = header_values(server.headers, "X-Amzn-Trace-Id")
    segment = memory.segment()
    assert answer == f"Root={segment['trace_id']}"
    assert segment["http"]["response"] == {"status": 200, "content_length": 2}


@pytest.mark.parametrize("headers", [None, 42, [("only-a-name",)], [(b"bytes", b"pair")]])
def test_headers_the_middleware_cannot_read_are_given_to_the_server(memory, headers):
    def app(env, start_response):
        start_response("204 No Content", headers)
        return []

    server = Server()
    XRayWSGIMiddleware(app)(environ(), server.start_response)
    if headers is None or headers == 42:
        assert server.headers is headers, "unreadable: passed on as it is, for the server to judge"
    else:
        assert server.headers[: len(headers)] == headers
    assert memory.segment()["http"]["response"] == {"status": 204}


@pytest.mark.parametrize("status", ["OK", "", None, 200, "2000 Weird"])
def test_odd_status_lines_do_not_break_anything(memory, status):
    def app(env, start_response):
        start_response(status, [])
        return [b""]

    server = Server()
    XRayWSGIMiddleware(app)(environ(), server.start_response)
    assert server.calls[-1][0] == status
    seg = memory.segment()
    assert "response" not in seg.get("http", {}) or seg["http"]["response"].get("status") in (None, 200)


# -- requests -------------------------------------------------------------------------------------------


def ok_app(env, start_response):
    start_response("200 OK", [])
    return [b"ok"]


def test_request_fields(memory):
    XRayWSGIMiddleware(ok_app)(
        environ(REQUEST_METHOD="post", HTTP_USER_AGENT="curl/8", SCRIPT_NAME="/api"), Server().start_response
    )
    request = memory.segment()["http"]["request"]
    assert request == {
        "method": "POST",
        "url": "http://shop.example.org:8080/api/items",  # no query string
        "user_agent": "curl/8",
        "client_ip": "192.0.2.10",
    }


@pytest.mark.parametrize("name", [None, "named"])
def test_request_fields_when_the_incoming_header_decided(memory, name):
    # With Sampled=1 the sampler reads nothing; the fields are read for the record all the same.
    env = environ(REQUEST_METHOD="put", SCRIPT_NAME="/api", HTTP_X_AMZN_TRACE_ID=f"Root={T};Sampled=1")
    XRayWSGIMiddleware(ok_app, name=name)(env, Server().start_response)
    seg = memory.segment()
    assert seg["name"] == (name or "shop.example.org")
    assert seg["http"]["request"] == {
        "method": "PUT",
        "url": "http://shop.example.org:8080/api/items",
        "client_ip": "192.0.2.10",
    }


def test_host_from_server_name_and_non_ascii_paths(memory):
    path = "/café".encode().decode("latin-1")  # as PEP 3333 servers pass it
    env = environ(PATH_INFO=path, wsgi_url_scheme="https")
    del env["HTTP_HOST"]
    env.update({"wsgi.url_scheme": "https", "SERVER_PORT": "443"})
    XRayWSGIMiddleware(ok_app)(env, Server().start_response)
    seg = memory.segment()
    assert seg["name"] == "example.org"
    assert seg["http"]["request"]["url"] == "https://example.org/café"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"REQUEST_METHOD": b"GET", "PATH_INFO": 7, "HTTP_HOST": None, "HTTP_X_AMZN_TRACE_ID": 3},
        {"HTTP_HOST": "", "REMOTE_ADDR": "", "HTTP_X_FORWARDED_FOR": " , "},
        {"HTTP_HOST": "[::1]:8000", "HTTP_X_FORWARDED_FOR": "2001:db8::1"},
        {"HTTP_HOST": "\udcff", "HTTP_USER_AGENT": "\udcffbad", "PATH_INFO": "/\ud800"},  # lone surrogates
    ],
)
def test_odd_environs_are_traced_as_far_as_they_can_be(memory, env):
    server = Server()
    assert XRayWSGIMiddleware(ok_app)(env, server.start_response) == [b"ok"]
    seg = memory.segment()
    assert header_values(server.headers, "X-Amzn-Trace-Id") == [f"Root={seg['trace_id']}"]
    if env.get("HTTP_HOST") == "[::1]:8000":
        assert seg["name"] == "::1"
        assert seg["http"]["request"]["client_ip"] == "2001:db8::1"
    elif env.get("HTTP_HOST") == "\udcff":
        assert seg["http"]["request"]["user_agent"].endswith("bad")
    else:
        assert seg["name"] == "unnamed"


@pytest.mark.parametrize(
    "header",
    ["garbage", "Root=1-xyz;Sampled=1", "Root=" + T + ";Parent=zz;Sampled=1", "Root=" + T + ";" + "x" * 9000],
)
def test_a_malformed_incoming_header_starts_a_new_trace_with_a_warning(memory, caplog, header):
    server = Server()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        XRayWSGIMiddleware(ok_app)(environ(HTTP_X_AMZN_TRACE_ID=header), server.start_response)
    seg = memory.segment()
    assert seg["trace_id"] != T and "parent_id" not in seg
    assert header_values(server.headers, "X-Amzn-Trace-Id") == [f"Root={seg['trace_id']}"]
    assert any("X-Amzn-Trace-Id ignored" in r.getMessage() for r in caplog.records)
    assert memory.rec.counters()["warnings"] >= 1


def test_a_tracing_failure_never_reaches_the_app(memory, monkeypatch, caplog):
    class Broken:
        lambda_mode = False

        def begin_wsgi(self, *args: Any) -> Any:
            raise RuntimeError("recorder exploded")

        def warn(self, message: str) -> None:
            logging.getLogger("oxray").warning(message)

    _runtime.swap(Broken())  # type: ignore[arg-type]
    server = Server()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert XRayWSGIMiddleware(ok_app)(environ(), server.start_response) == [b"ok"]
    assert server.headers == []
    assert any("request not traced" in r.getMessage() for r in caplog.records)


def test_sampling_rules_see_the_host_without_port_the_method_and_the_path(memory):
    rules = {
        "version": 2,
        "rules": [
            {"host": "api.example.com", "http_method": "POST", "url_path": "/orders/*", "fixed_target": 0, "rate": 0}
        ],
        "default": {"fixed_target": 0, "rate": 1},
    }
    rec = _core.Recorder(json.dumps({"emit_mode": "memory", "sampling_rules": rules}))
    _runtime.swap(rec)
    middleware = XRayWSGIMiddleware(ok_app)
    answers = {}
    for method, host, path in [
        ("POST", "API.example.com:8443", "/orders/1"),
        ("GET", "api.example.com", "/orders/1"),
        ("POST", "other.example.com", "/orders/1"),
        ("POST", "api.example.com", "/carts/1"),
    ]:
        server = Server()
        middleware(
            environ(REQUEST_METHOD=method, HTTP_HOST=host, PATH_INFO=path, HTTP_X_AMZN_TRACE_ID="Sampled=?"),
            server.start_response,
        )
        answers[(method, host, path)] = header_values(server.headers, "X-Amzn-Trace-Id")[0][-1]
    assert list(answers.values()) == ["0", "1", "1", "1"]
    rec.flush(5.0)
    assert len([check_document(d) for d in rec.take_documents()]) == 3


# -- concurrency ------------------------------------------------------------------------------------------


def test_concurrent_requests_in_a_threaded_server_keep_their_own_subsegments(memory):
    tracer = Tracer(service="shop")

    @tracer.capture_method
    def handle(number: str) -> str:
        tracer.put_annotation("Number", number)
        return number

    def app(env, start_response):
        number = env["PATH_INFO"].strip("/")
        start_response("200 OK", [])
        return [handle(number).encode()]

    with webapps.werkzeug_server(XRayWSGIMiddleware(app)) as client:
        results: Dict[str, Optional[bytes]] = {}

        def call(number: str) -> None:
            results[number] = client.get(f"/{number}").body

        threads = [threading.Thread(target=call, args=(str(n),)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == {str(n): str(n).encode() for n in range(20)}
    docs = memory.documents()
    assert len(docs) == 20
    for seg in docs:
        [sub] = seg["subsegments"]
        assert seg["http"]["request"]["url"].endswith("/" + sub["annotations"]["Number"])


def test_a_file_wrapper_body_is_left_to_the_server(memory, tmp_path):
    path = tmp_path / "report.txt"
    path.write_bytes(b"x" * 10_000)
    returned: List[Any] = []

    def app(env, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10000")])
        body = env["wsgi.file_wrapper"](open(path, "rb"))
        returned.append(body)
        return body

    with webapps.wsgiref_server(XRayWSGIMiddleware(app)) as client:
        reply = client.get("/report.txt")
    assert (reply.status, len(reply.body)) == (200, 10_000)
    from wsgiref.util import FileWrapper

    assert type(returned[0]) is FileWrapper
    seg = memory.segment()
    assert seg["http"]["response"] == {"status": 200, "content_length": 10_000}
    assert reply.trace_header == f"Root={seg['trace_id']}"


def test_the_server_gets_the_file_wrapper_itself(memory, tmp_path):
    from wsgiref.util import FileWrapper

    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")

    def app(env, start_response):
        start_response("200 OK", [])
        return env["wsgi.file_wrapper"](open(path, "rb"))

    result = XRayWSGIMiddleware(app)(environ(**{"wsgi.file_wrapper": FileWrapper}), Server().start_response)
    assert type(result) is FileWrapper
    result.close()
    assert memory.segment()["http"]["response"] == {"status": 200}


def test_a_stream_of_malformed_headers_is_logged_ten_times_then_every_thousandth(memory, caplog):
    # Clients choose what they send: 1,005 bad headers must not become 1,005 log lines.
    server = Server()
    app = XRayWSGIMiddleware(ok_app)
    with caplog.at_level(logging.WARNING, logger="oxray"):
        for i in range(1005):
            app(environ(HTTP_X_AMZN_TRACE_ID=f"Parent={i}"), server.start_response)
    lines = [r.getMessage() for r in caplog.records if "X-Amzn-Trace-Id ignored" in r.getMessage()]
    assert len(lines) == 11
    assert "(10 so far;" in lines[9] and "(1000 so far;" in lines[10]
    assert memory.rec.counters()["warnings"] == 11
    assert len(memory.documents()) == 1005


# -- the native per-request path: its set-up and the odd inputs it hands back to Python ---------------


def ok_list_app(env, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_the_application_and_names_are_attributes_and_the_application_can_be_replaced(memory):
    middleware = XRayWSGIMiddleware(ok_list_app, name="")
    assert middleware.app is ok_list_app and middleware._name is None and middleware._env_name is None
    calls: List[str] = []

    def other(env, start_response):
        calls.append(xray_recorder.current_segment().name)
        return ok_list_app(env, start_response)

    middleware.app = other
    assert middleware(environ(), Server().start_response) == [b"ok"]
    assert calls == ["shop.example.org"] and memory.segment()["name"] == "shop.example.org"


def test_a_name_that_is_not_text_leaves_the_request_untraced_with_a_warning(memory, caplog):
    server = Server()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert XRayWSGIMiddleware(ok_list_app, name=42)(environ(), server.start_response) == [b"ok"]  # type: ignore[arg-type]
    assert header_values(server.headers, "X-Amzn-Trace-Id") == []
    assert any("request not traced" in r.getMessage() for r in caplog.records)
    assert memory.documents() == []


def test_a_current_value_that_is_not_an_entity_leaves_the_request_untraced(memory, caplog):
    token = _current.set("not an entity")  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.WARNING, logger="oxray"):
            assert XRayWSGIMiddleware(ok_list_app)(environ(), Server().start_response) == [b"ok"]
    finally:
        _current.reset(token)
    assert any("request not traced" in r.getMessage() for r in caplog.records)
    assert memory.documents() == []


def test_an_environ_of_a_dict_subclass_is_traced(memory, caplog):
    class Environ(dict):
        pass

    server = Server()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert XRayWSGIMiddleware(ok_list_app, name="sub")(Environ(environ()), server.start_response) == [b"ok"]
    assert memory.segment()["name"] == "sub"
    assert len(header_values(server.headers, "X-Amzn-Trace-Id")) == 1


def test_the_segment_is_current_only_while_the_application_runs(memory):
    seen: List[Any] = []

    def app(env, start_response):
        seen.append(_current.get())
        return ok_list_app(env, start_response)

    assert _current.get() is None
    XRayWSGIMiddleware(app, name="inside")(environ(), Server().start_response)
    assert seen[0] is not None and seen[0].name == "inside" and _current.get() is None
    memory.segment()


def test_an_interrupt_while_beginning_is_raised_and_the_app_is_not_called(memory, monkeypatch):
    class Interrupting:
        lambda_mode = False

        def begin_wsgi(self, *args: Any) -> Any:
            raise KeyboardInterrupt

    _runtime.swap(Interrupting())  # type: ignore[arg-type]
    called: List[bool] = []

    def app(env, start_response):
        called.append(True)
        return ok_list_app(env, start_response)

    with pytest.raises(KeyboardInterrupt):
        XRayWSGIMiddleware(app)(environ(), Server().start_response)
    assert called == []


def test_tracing_off_calls_the_application_untouched(memory, monkeypatch):
    from oxray import _capture

    monkeypatch.setattr(_capture, "_ENABLED", False)
    server = Server()
    seen: List[Any] = []

    def app(env, start_response):
        seen.append(start_response)
        return ok_list_app(env, start_response)

    assert XRayWSGIMiddleware(app)(environ(), server.start_response) == [b"ok"]
    assert seen == [server.start_response] and memory.documents() == []
