"""Each patch against a real local server (http.server, aiohttp.web) or, for botocore, a
local AWS stand-in endpoint. Every captured document is schema-validated by the fixture."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys

import pytest

import oxray
from oxray import Tracer, patches
from oxray.testing import capture_traces
from servers import LocalServer

HEADER_RE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=([0-9a-f]{16});Sampled=1$")


@pytest.fixture(scope="module", autouse=True)
def all_patches():
    patches.patch_all(double_patch=False)
    patches.patch(["httplib"])
    yield


@pytest.fixture
def server():
    s = LocalServer()
    yield s
    s.close()


@pytest.fixture
def aws():
    s = LocalServer(aws=True)
    yield s
    s.close()


def _header_parent(request):
    match = HEADER_RE.match(request["x-amzn-trace-id"])
    assert match, request["x-amzn-trace-id"]
    return match.group(1)


def test_requests_remote_subsegment_and_header(traces, server):
    import requests

    assert requests.get(server.url + "/ok?secret=1").status_code == 200
    assert requests.post(server.url + "/fail").status_code == 500
    assert requests.get(server.url + "/missing").status_code == 404
    assert requests.get(server.url + "/throttle").status_code == 429
    nodes = [n for n in traces.nodes() if n.name == "127.0.0.1"]
    assert len(nodes) == 4, "one subsegment per request, not one per layer"
    ok, fail, missing, throttle = sorted(nodes, key=lambda n: n.doc["start_time"])
    assert ok.namespace == "remote"
    assert ok.http["request"] == {"method": "GET", "url": server.url + "/ok"}
    assert ok.http["response"]["status"] == 200 and not (ok.fault or ok.error)
    assert fail.fault and missing.error and throttle.throttle and throttle.error
    parents = [_header_parent(r) for r in server.recorded.requests]
    assert parents == [n.id for n in (ok, fail, missing, throttle)]


def test_requests_connection_error_is_recorded_and_raised(traces):
    import requests

    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:9/nothing", timeout=2)
    (node,) = traces.find_all("127.0.0.1")
    assert node.fault and node.cause["exceptions"][0]["remote"] is True


def test_http_client_direct(traces, server):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    headers = {"X-Mine": "1"}
    conn.request("GET", "/ok", headers=headers)
    assert conn.getresponse().read() == b'{"ok": true}'
    assert headers == {"X-Mine": "1"}, "the caller's headers dict is not changed"
    (node,) = traces.find_all("127.0.0.1")
    assert node.http["request"]["url"] == server.url + "/ok"
    assert _header_parent(server.recorded.requests[0]) == node.id


def test_urllib_goes_through_http_client(traces, server):
    from urllib.request import urlopen

    assert urlopen(server.url + "/ok").status == 200
    assert len(traces.find_all("127.0.0.1")) == 1


def test_httpx_sync_and_async(traces, server):
    import httpx

    with httpx.Client() as client:
        assert client.get(server.url + "/ok").status_code == 200

    async def main():
        async with httpx.AsyncClient() as client:
            return (await client.get(server.url + "/fail")).status_code

    assert asyncio.run(main()) == 500
    ok, fail = sorted(traces.find_all("127.0.0.1"), key=lambda n: n.doc["start_time"])
    assert ok.http["response"]["status"] == 200 and fail.fault
    assert [_header_parent(r) for r in server.recorded.requests] == [ok.id, fail.id]


def _aiohttp_app():
    from aiohttp import web

    seen = []

    async def handle(request):
        seen.append(dict(request.headers))
        return web.json_response({"ok": True}, status=200 if request.path == "/ok" else 503)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app, seen


async def _serve(app):
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_aiohttp_automatic_and_explicit_trace_config(traces):
    import aiohttp

    from oxray.tracing import aiohttp_trace_config

    async def main():
        app, seen = _aiohttp_app()
        runner, url = await _serve(app)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url + "/ok") as response:
                    assert response.status == 200
            async with aiohttp.ClientSession(trace_configs=[aiohttp_trace_config()]) as session:
                async with session.get(url + "/down") as response:
                    assert response.status == 503
        finally:
            await runner.cleanup()
        return seen

    seen = asyncio.run(main())
    ok, down = sorted(traces.find_all("127.0.0.1"), key=lambda n: n.doc["start_time"])
    assert ok.http["request"]["method"] == "GET" and ok.http["response"]["status"] == 200
    assert down.fault
    assert [_header_parent({"x-amzn-trace-id": h["X-Amzn-Trace-Id"]}) for h in seen] == [
        ok.id,
        down.id,
    ]


def test_botocore_dynamodb_sqs_s3(traces, aws, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ddb = boto3.client("dynamodb", endpoint_url=aws.url, region_name="eu-west-1")
    sqs = boto3.client("sqs", endpoint_url=aws.url, region_name="eu-west-1")
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name="eu-west-1")
    ddb.get_item(TableName="orders", Key={"id": {"S": "1"}})
    sqs.send_message(QueueUrl=aws.url + "/123/jobs", MessageBody="hi")
    body = s3.get_object(Bucket="bucket", Key="file.txt")["Body"]
    assert body.read() == b"stream-body-bytes", "the stream was not consumed by tracing"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.get_item(TableName="missing", Key={"id": {"S": "1"}})
    dynamo, queue, bucket, missing = sorted(
        (n for n in traces.nodes() if n.namespace == "aws"), key=lambda n: n.doc["start_time"]
    )
    assert dynamo.name == "dynamodb" and dynamo.aws["operation"] == "GetItem"
    assert dynamo.aws["table_name"] == "orders" and dynamo.aws["region"] == "eu-west-1"
    assert dynamo.aws["request_id"] == "req-0001" and dynamo.http["response"]["status"] == 200
    assert queue.name == "sqs" and queue.aws["queue_url"].endswith("/123/jobs")
    assert bucket.name == "s3" and bucket.aws["bucket_name"] == "bucket" and bucket.aws["key"] == "file.txt"
    assert missing.error and missing.http["response"]["status"] == 400
    exc = missing.cause["exceptions"][0]
    assert exc["remote"] is True and exc["type"] == "ResourceNotFoundException"
    assert not traces.find_all("127.0.0.1"), "the HTTP layer under botocore is not traced twice"
    parents = [_header_parent(r) for r in aws.recorded.requests]
    assert parents == [dynamo.id, queue.id, bucket.id, missing.id]


def test_capture_response_of_streaming_body_is_not_read(traces, aws):
    import boto3

    tracer = Tracer(service="files")

    @tracer.capture_method
    def fetch():
        return boto3.client("s3", endpoint_url=aws.url, region_name="eu-west-1").get_object(Bucket="b", Key="k")

    response = fetch()
    assert response["Body"].read() == b"stream-body-bytes"
    node = traces.find(f"## {__name__}.test_capture_response_of_streaming_body_is_not_read.locals.fetch")
    recorded = node.metadata["files"][node.name[3:] + " response"]["Body"]
    assert "StreamingBody" in recorded and "never read" in recorded


def test_sqlite3(traces, tmp_path):
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(str(path))
    assert isinstance(conn, sqlite3.Connection)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    cur = conn.cursor()
    assert cur.execute("SELECT sum(x) FROM t").fetchone() == (3,)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT * FROM nope")
    conn.close()
    nodes = traces.find_all("shop.db")
    assert len(nodes) == 4
    create, insert, select, bad = sorted(nodes, key=lambda n: n.doc["start_time"])
    assert create.namespace == "remote" and create.sql["database_type"] == "sqlite3"
    assert select.sql["sanitized_query"] == "SELECT sum(x) FROM t"
    assert create.sql["url"].startswith("sqlite://localhost/") and create.sql["url"].endswith("/shop.db")
    assert bad.fault and bad.cause["exceptions"][0]["type"] == "OperationalError"
    mem = sqlite3.connect(":memory:")
    mem.execute("SELECT 1")
    (node,) = traces.find_all("memory")
    assert "url" not in node.sql


def test_ignore_endpoint_applies_to_every_http_patch(traces, server):
    import http.client

    import httpx
    import requests

    tracer = Tracer()
    tracer.ignore_endpoint(hostname="127.0.0.*", urls=["/ok"])
    requests.get(server.url + "/ok")
    httpx.get(server.url + "/ok")
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    conn.request("GET", "/ok")
    conn.getresponse().read()
    requests.get(server.url + "/missing")
    (node,) = traces.find_all("127.0.0.1")
    assert node.http["request"]["url"].endswith("/missing")


def test_unsampled_trace_sends_sampled_0_header(server):
    import requests

    header = "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=0"
    with capture_traces(trace_header=header) as traces:
        requests.get(server.url + "/ok")
    assert traces.documents == []
    sent = server.recorded.requests[0]["x-amzn-trace-id"]
    assert sent.startswith("Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=") and sent.endswith(";Sampled=0")


def test_patching_is_lazy_in_a_fresh_interpreter(tmp_path):
    import subprocess

    code = (
        "import sys\n"
        "from oxray import Tracer\n"
        "Tracer(patch_modules=None)\n"
        "heavy = [m for m in ('botocore', 'requests', 'httpx', 'aiohttp', 'sqlite3', 'asyncio',"
        " 'logging', 'http.client', 'concurrent.futures') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import requests\n"
        "assert getattr(requests.Session.send, '__oxray__', False), 'patched on import'\n"
        "print('ok')\n"
    )
    env = {"LAMBDA_TASK_ROOT": "/var/task", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_patch_names(caplog):
    with pytest.raises(ValueError):
        patches.patch(["not_a_library"])
    oxray.patch_all()  # idempotent
    assert "requests" in patches.patched()
