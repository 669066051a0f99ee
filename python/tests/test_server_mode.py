"""Server mode end to end: real Flask, Django (WSGI and ASGI) and FastAPI applications behind
oxray.middleware, served in process and over 127.0.0.1, sending to a UDP listener on
127.0.0.1. Every document is validated (schema + stricter rules) by the ``daemon`` fixture."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import webapps
from conftest import FACADE_ID, HEADER, SERVER_MODE_ENV, TRACE_ID, Daemon, reset_oxray
from oxray import Tracer, _core, _errors, _runtime, xray_recorder
from oxray.testing import Node, assemble
from servers import LocalServer

T = "1-6740c2a1-5f1e2d3c4b5a69788796a5b4"
P = "53995c3f42cd8ad8"
NEW_ROOT = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


class ServerEnv:
    def __init__(self, daemon: Daemon, rules: Path) -> None:
        self.daemon = daemon
        self.rules = rules

    def documents(self, count: int) -> List[Dict[str, Any]]:
        docs = self.daemon.documents(count)
        assert len(docs) == count, [d.get("name") for d in docs]
        return docs

    def nothing_sent(self) -> None:
        assert _runtime.flush(5.0)
        assert self.daemon.documents() == []


@pytest.fixture
def server_env(monkeypatch, daemon, tmp_path):
    """Outside Lambda, sending to the test daemon; rules: everything sampled but /health."""
    for key in SERVER_MODE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    reset_oxray()
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(webapps.RULES))
    yield ServerEnv(daemon, rules)
    _runtime.flush(5.0)
    xray_recorder.service = None
    reset_oxray()


@pytest.fixture(scope="module")
def downstream():
    server = LocalServer()
    yield server
    server.close()


class Site:
    """One application served one way, and what it sent."""

    def __init__(self, env: ServerEnv, client: Any, work: webapps.Work, framework: str, how: str) -> None:
        self.env = env
        self.client = client
        self.work = work
        self.framework = framework
        self.how = how

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> webapps.Reply:
        return self.client.get(path, headers)

    def segment(self) -> Dict[str, Any]:
        [doc] = self.env.documents(1)
        assert "type" not in doc, "a segment, not a subsegment"
        return doc

    def tree(self) -> Node:
        [root] = assemble(self.env.documents(1))
        return root


def _site(variant: str, env: ServerEnv, downstream: LocalServer) -> Any:
    framework, how = webapps.VARIANTS[variant]
    downstream.recorded.requests.clear()
    tracer = Tracer(service="shop")  # before the middleware: off until the middleware is made
    work = webapps.Work(tracer, downstream.url)
    app = webapps.APPS[framework](work, sampling_rules=env.rules)
    with webapps.serve(app, framework, how) as client:
        yield Site(env, client, work, framework, how)


@pytest.fixture(params=list(webapps.VARIANTS))
def site(request, server_env, downstream):
    yield from _site(request.param, server_env, downstream)


@pytest.fixture(params=[v for v, (framework, _) in webapps.VARIANTS.items() if framework == "fastapi"])
def fastapi_site(request, server_env, downstream):
    yield from _site(request.param, server_env, downstream)


def flags(doc: Dict[str, Any]) -> set:
    return {flag for flag in ("error", "throttle", "fault") if doc.get(flag)}


def parse(header: str) -> Dict[str, Any]:
    return _core.parse_trace_header(header)


def calls_to(downstream: LocalServer, prefix: str) -> List[Dict[str, str]]:
    return [r for r in downstream.recorded.requests if r["path"].startswith(prefix)]


def only(nodes: List[Node], suffix: str) -> Node:
    found = [n for n in nodes if (n.name or "").endswith(suffix)]
    assert len(found) == 1, [n.name for n in nodes]
    return found[0]


# -- the segment ------------------------------------------------------------------------------------


def test_a_request_is_a_segment(site):
    reply = site.get("/hello", {"User-Agent": "oxray-tests/1"})
    assert (reply.status, reply.body) == (200, b"hello")
    seg = site.segment()
    assert seg["name"] == "shop"
    assert reply.trace_header == f"Root={seg['trace_id']}"
    assert "parent_id" not in seg
    request = seg["http"]["request"]
    assert request["method"] == "GET"
    assert request["url"].startswith(f"http://{site.client.host}")
    assert request["url"].endswith("/hello")
    assert request["client_ip"] == "127.0.0.1"
    assert request["user_agent"] == "oxray-tests/1"
    assert "x_forwarded_for" not in request
    assert seg["http"]["response"] == {"status": 200, "content_length": 5}
    assert flags(seg) == set()
    assert seg["aws"]["xray"]["sdk"] == "oxray for Python"


def test_the_client_ip_comes_from_x_forwarded_for(site):
    site.get("/hello", {"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
    request = site.segment()["http"]["request"]
    assert (request["client_ip"], request["x_forwarded_for"]) == ("203.0.113.9", True)


def test_the_incoming_header_is_continued(site):
    reply = site.get("/hello", {"X-Amzn-Trace-Id": f"Root={T};Parent={P};Sampled=1"})
    seg = site.segment()
    assert (seg["trace_id"], seg["parent_id"]) == (T, P)
    assert reply.trace_header == f"Root={T}"


def test_sampled_0_is_honoured_and_propagated(site, downstream):
    reply = site.get("/work?id=o-0", {"X-Amzn-Trace-Id": f"Root={T};Parent={P};Sampled=0"})
    assert reply.status == 200
    assert reply.trace_header == f"Root={T}"
    site.env.nothing_sent()
    [call] = calls_to(downstream, "/orders/o-0")
    sent = parse(call["x-amzn-trace-id"])
    assert (sent["root"], sent["sampled"]) == (T, "0")
    assert sent["parent"] != P and re.fullmatch(r"[0-9a-f]{16}", sent["parent"])


def test_sampled_requested_is_answered(site):
    reply = site.get("/hello", {"X-Amzn-Trace-Id": f"Root={T};Sampled=?"})
    assert reply.trace_header == f"Root={T};Sampled=1"
    seg = site.segment()
    assert seg["trace_id"] == T and "parent_id" not in seg
    site.env.daemon.clear()
    reply = site.get("/health", {"X-Amzn-Trace-Id": f"Root={T};Sampled=?"})
    assert reply.trace_header == f"Root={T};Sampled=0"
    site.env.nothing_sent()


def test_rules_decide_without_a_header(site):
    reply = site.get("/health")
    assert (reply.status, reply.body) == (200, b"ok")
    assert NEW_ROOT.match(reply.trace_header)
    site.env.nothing_sent()
    reply = site.get("/hello")
    assert site.segment()["trace_id"] == reply.trace_header[len("Root=") :]


@pytest.mark.parametrize(
    "path,status,expected",
    [("/missing", 404, {"error"}), ("/throttled", 429, {"error", "throttle"}), ("/fail", 503, {"fault"})],
)
def test_status_flags(site, path, status, expected):
    reply = site.get(path)
    assert reply.status == status
    seg = site.segment()
    assert seg["http"]["response"]["status"] == status
    assert flags(seg) == expected


def test_an_exception_is_a_fault_with_its_cause(site):
    reply = site.get("/boom")
    assert reply.status == 500
    seg = site.segment()
    assert seg["http"]["response"]["status"] == 500
    assert flags(seg) == {"fault"}
    [exc] = seg["cause"]["exceptions"]
    assert (exc["type"], exc["message"]) == ("RuntimeError", "boom")
    app_file = "djangoapp.py" if site.framework.startswith("django") else "webapps.py"
    assert any(frame["path"].endswith(app_file) for frame in exc["stack"]), exc["stack"]
    assert not _errors._recorded, "the request's exceptions are forgotten when it ends"


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streamed_response_is_inside_the_segment(site):
    reply = site.get("/stream")
    assert (reply.status, reply.body) == (200, b"abbccc")
    root = site.tree()
    assert root.http["response"]["status"] == 200
    assert root.http["response"]["content_length"] == 6
    steps = [n for n in root.children if n.name.endswith(".step")]
    assert len(steps) == 3, root.child_names()
    # The segment ends after the last chunk was made, and after every step.
    assert root.doc["end_time"] >= site.work.streamed_at[-1] - 1e-6
    assert all(step.doc["end_time"] <= root.doc["end_time"] for step in steps)


def test_capture_method_and_patches_record_under_the_segment(site, downstream):
    reply = site.get("/work?id=o-7")
    assert reply.status == 200
    assert json.loads(reply.body) == {"order": "o-7", "downstream": 200}
    root = site.tree()
    fetch = only(root.children, ".fetch_order")
    assert fetch.annotations == {"OrderId": "o-7"}
    assert fetch.metadata["default"] == {"stage": "fetch"}
    [response_key] = fetch.metadata["shop"]
    assert response_key.endswith("fetch_order response")
    assert fetch.metadata["shop"][response_key] == {"order": "o-7", "downstream": 200}
    remote = only(fetch.children, "127.0.0.1")
    assert remote.namespace == "remote"
    assert remote.http["request"]["url"] == f"{downstream.url}/orders/o-7"
    assert remote.http["response"]["status"] == 200
    assert [n for n in fetch.children if "sql" in n.doc], fetch.child_names()
    [call] = calls_to(downstream, "/orders/o-7")
    sent = parse(call["x-amzn-trace-id"])
    assert (sent["root"], sent["parent"], sent["sampled"]) == (root.trace_id, remote.id, "1")


def test_async_work_records_under_the_segment(fastapi_site, downstream):
    site = fastapi_site
    reply = site.get("/work-async?id=o-8")
    assert json.loads(reply.body) == {"order": "o-8", "httpx": 200, "aiohttp": 200, "parts": ["left", "right"]}
    root = site.tree()
    fetch = only(root.children, ".fetch_async")
    remotes = [n for n in fetch.children if n.name == "127.0.0.1"]
    parts = [n for n in fetch.children if n.name.endswith(".part")]
    assert len(remotes) == 2 and len(parts) == 2, fetch.child_names()
    calls = calls_to(downstream, "/orders/o-8")
    assert sorted(parse(c["x-amzn-trace-id"])["parent"] for c in calls) == sorted(n.id for n in remotes)


# -- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_segment_names(server_env, downstream, monkeypatch, framework):
    def name_of(**middleware: Any) -> str:
        work = webapps.Work(Tracer(), downstream.url)
        app = webapps.APPS[framework](work, sampling_rules=server_env.rules, **middleware)
        with webapps.serve(app, framework, "inprocess") as client:
            client.get("/hello")
            name = server_env.documents(1)[0]["name"]
            server_env.daemon.clear()
            return name

    host = "testserver" if framework == "fastapi" else "localhost"
    assert name_of() == host
    Tracer(service="from-tracer")
    assert name_of() == "from-tracer"
    xray_recorder.configure(service="from-recorder")
    assert name_of() == "from-recorder"
    assert name_of(name="from-middleware") == "from-middleware"
    monkeypatch.setenv("AWS_XRAY_TRACING_NAME", "from-env")
    reset_oxray()  # a new recorder reads the environment
    assert name_of(name="from-middleware") == "from-env"


# -- one traced server calling another ------------------------------------------------------------------


def test_a_traced_server_continues_the_trace_of_another(server_env, downstream):
    back_work = webapps.Work(Tracer(), downstream.url)
    back = webapps.fastapi_app(back_work, name="back", sampling_rules=server_env.rules)
    front = webapps.flask_app(webapps.Work(Tracer(), downstream.url), name="front")
    with webapps.uvicorn_server(back) as back_client, webapps.werkzeug_server(front) as front_client:
        reply = front_client.get(f"/relay?to={back_client.url}/hello", {"X-Amzn-Trace-Id": f"Root={T};Sampled=?"})
        assert (reply.status, reply.body) == (200, b"200")
        assert reply.trace_header == f"Root={T};Sampled=1"
        docs = server_env.documents(2)
        by_name = {d["name"]: d for d in docs}
        [relay_call] = [n for n in assemble([by_name["front"]])[0].walk() if n.name == "127.0.0.1"]
        assert by_name["back"]["trace_id"] == by_name["front"]["trace_id"] == T
        assert by_name["back"]["parent_id"] == relay_call.id

        # The front's decision (Sampled=0) reaches the back, which records nothing either.
        server_env.daemon.clear()
        reply = front_client.get(f"/relay?to={back_client.url}/hello", {"X-Amzn-Trace-Id": f"Root={T};Sampled=0"})
        assert (reply.status, reply.body) == (200, b"200")
        server_env.nothing_sent()


# -- on/off ------------------------------------------------------------------------------------------------


def test_a_tracer_made_after_the_middleware_records(server_env, downstream):
    app_work: Dict[str, Any] = {}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(app_work["work"].fetch_order("late")).encode()]

    from oxray.middleware import XRayWSGIMiddleware

    wrapped = XRayWSGIMiddleware(app, name="late", sampling_rules=server_env.rules)
    app_work["work"] = webapps.Work(Tracer(service="late"), downstream.url)
    webapps.InProcessWSGI(wrapped).get("/late")
    root = assemble(server_env.documents(1))[0]
    fetch = only(root.children, ".fetch_order")
    assert fetch.annotations == {"OrderId": "late"}
    assert only(fetch.children, "127.0.0.1").namespace == "remote"


@pytest.mark.parametrize("how", ["disabled=True", "POWERTOOLS_TRACE_DISABLED", "AWS_XRAY_SDK_ENABLED=false"])
@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_disabled_tracing_passes_requests_through(server_env, downstream, monkeypatch, how, framework):
    if how == "disabled=True":
        tracer = Tracer(disabled=True)
    elif how == "POWERTOOLS_TRACE_DISABLED":
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        tracer = Tracer()
    else:
        monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
        tracer = Tracer()
    app = webapps.APPS[framework](webapps.Work(tracer, downstream.url), sampling_rules=server_env.rules)
    with webapps.serve(app, framework, "inprocess") as client:
        reply = client.get("/work?id=off")
    assert reply.status == 200 and reply.trace_header is None
    server_env.nothing_sent()
    assert tracer.disabled == (how != "AWS_XRAY_SDK_ENABLED=false")


# -- inside Lambda (an API Gateway adapter running a WSGI/ASGI app) -------------------------------------------


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_in_lambda_a_request_is_a_subsegment_of_the_function_segment(lam, tmp_path, framework):
    work = webapps.Work(Tracer(), "http://127.0.0.1:9")
    app = webapps.APPS[framework](work)
    os.environ["_X_AMZN_TRACE_ID"] = HEADER
    try:
        with webapps.serve(app, framework, "inprocess") as client:
            reply = client.get("/throttled", {"X-Amzn-Trace-Id": f"Root={T};Sampled=?"})
    finally:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    assert reply.status == 429
    assert reply.trace_header == f"Root={TRACE_ID};Sampled=1"
    [doc] = lam.daemon.documents(1)
    assert (doc["type"], doc["trace_id"], doc["parent_id"]) == ("subsegment", TRACE_ID, FACADE_ID)
    assert doc["name"] == "payment"  # POWERTOOLS_SERVICE_NAME
    assert doc["http"]["response"]["status"] == 429
    assert flags(doc) == {"error", "throttle"}


def test_botocore_and_http_client_record_under_the_segment(server_env, downstream, monkeypatch):
    """The patches not used by the other routes: botocore (to a local AWS stand-in) and
    http.client (patched with ``oxray.patch``)."""
    import http.client

    import boto3

    import oxray

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    oxray.patch(["httplib"])
    aws = LocalServer(aws=True)
    try:
        tracer = Tracer(service="shop")

        @tracer.capture_method
        def lookup() -> int:
            client = boto3.client("dynamodb", endpoint_url=aws.url, region_name="eu-west-1")
            client.get_item(TableName="orders", Key={"id": {"S": "1"}})
            conn = http.client.HTTPConnection("127.0.0.1", downstream.server_address[1], timeout=10)
            conn.request("GET", "/orders/raw")
            status = conn.getresponse().status
            conn.close()
            return status

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(lookup()).encode()]

        from oxray.middleware import XRayWSGIMiddleware

        with webapps.werkzeug_server(XRayWSGIMiddleware(app, sampling_rules=server_env.rules)) as client:
            assert client.get("/lookup").body == b"200"
        root = assemble(server_env.documents(1))[0]
        fetch = only(root.children, ".lookup")
        dynamo = only(fetch.children, "dynamodb")
        assert (dynamo.namespace, dynamo.aws["operation"], dynamo.aws["table_name"]) == ("aws", "GetItem", "orders")
        raw = only(fetch.children, "127.0.0.1")
        assert raw.http["request"]["url"].endswith("/orders/raw")
        [call] = calls_to(downstream, "/orders/raw")
        assert parse(call["x-amzn-trace-id"])["parent"] == raw.id
        [aws_call] = [r for r in aws.recorded.requests if "x-amz-target" in r]
        assert parse(aws_call["x-amzn-trace-id"])["parent"] == dynamo.id
    finally:
        aws.close()


def test_in_lambda_under_capture_lambda_handler_the_request_nests_in_the_handler(lam):
    """An API Gateway adapter called from a handler traced with capture_lambda_handler."""
    tracer = Tracer()
    app = webapps.flask_app(webapps.Work(tracer, "http://127.0.0.1:9"))
    client = webapps.InProcessWSGI(app)

    @tracer.capture_lambda_handler
    def handler(event, context):
        return client.get(event["path"]).status

    assert lam.invoke(handler, {"path": "/fail"}) == 503
    [handler_node] = lam.trees(1)
    assert handler_node.name == "## handler" and handler_node.parent_id == FACADE_ID
    [request] = handler_node.children
    assert request.name == "payment" and request.http["response"]["status"] == 503
    assert request.fault


def test_an_app_mounted_inside_a_traced_app_is_a_subsegment(server_env):
    from oxray.middleware import XRayWSGIMiddleware

    def inner(environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such item"]

    inner_traced = XRayWSGIMiddleware(inner, name="catalog")

    def outer(environ, start_response):
        if environ["PATH_INFO"].startswith("/catalog"):
            return inner_traced(environ, start_response)
        start_response("200 OK", [])
        return [b"home"]

    with webapps.werkzeug_server(XRayWSGIMiddleware(outer, name="site", sampling_rules=server_env.rules)) as client:
        reply = client.get("/catalog/9")
    assert reply.status == 404
    [seg] = server_env.documents(1)
    assert seg["name"] == "site" and seg["http"]["response"]["status"] == 404
    [sub] = seg["subsegments"]
    assert sub["name"] == "catalog" and sub["http"]["response"]["status"] == 404 and sub["error"] is True
    assert [v for k, v in reply.header_list if k.lower() == "x-amzn-trace-id"] == [f"Root={seg['trace_id']}"]
