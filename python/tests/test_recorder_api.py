"""``oxray.xray_recorder``: the aws_xray_sdk.core recorder API, outside Lambda (segments)
and in Lambda (the facade), end to end over UDP."""

from __future__ import annotations

import asyncio
import os

import pytest

from conftest import FACADE_ID, check_document
from oxray import Tracer, _runtime, xray_recorder
from oxray.testing import assemble


@pytest.fixture
def server_mode(monkeypatch, daemon):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    monkeypatch.delenv("AWS_XRAY_TRACING_NAME", raising=False)
    _runtime.swap(None)
    yield daemon
    xray_recorder.clear_trace_entities()
    _runtime.swap(None)


def test_segment_with_subsegments(server_mode):
    segment = xray_recorder.begin_segment("checkout", sampling=1)
    assert xray_recorder.current_segment() is segment
    sub = xray_recorder.begin_subsegment("db", "remote")
    assert xray_recorder.current_subsegment() is sub
    xray_recorder.put_annotation("order", "o-1")
    xray_recorder.put_metadata("rows", [1, 2])
    xray_recorder.end_subsegment()
    assert xray_recorder.current_subsegment() is None
    with xray_recorder.in_subsegment("compute") as c:
        c.put_annotation("n", 3)
    segment.set_user("alice")
    xray_recorder.end_segment()
    (doc,) = server_mode.documents(1)
    assert doc["name"] == "checkout" and doc["user"] == "alice"
    assert doc["aws"]["xray"]["sdk"] == "oxray for Python"
    db, compute = doc["subsegments"]
    assert db["namespace"] == "remote" and db["annotations"] == {"order": "o-1"}
    assert db["metadata"] == {"default": {"rows": [1, 2]}} and compute["annotations"] == {"n": 3}


def test_continue_an_incoming_trace_and_sampling_decisions(server_mode):
    xray_recorder.begin_segment(
        "api",
        traceid="1-5759e988-bd862e3fe1be46a994272793",
        parent_id="53995c3f42cd8ad8",
        sampling=1,
    )
    xray_recorder.end_segment()
    xray_recorder.begin_segment("api", sampling=0)
    assert not xray_recorder.is_sampled()
    xray_recorder.end_segment()
    (doc,) = server_mode.documents(1)
    assert doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" and doc["parent_id"] == "53995c3f42cd8ad8"


def test_capture_and_in_subsegment_as_decorators(server_mode):
    @xray_recorder.capture("custom name")
    def work():
        return 1

    @xray_recorder.capture()
    async def awork():
        await asyncio.sleep(0)
        return 2

    @xray_recorder.in_subsegment("decorated")
    def other():
        raise KeyError("k")

    with xray_recorder.in_segment("seg", sampling=1):
        assert work() == 1 and asyncio.run(awork()) == 2
        with pytest.raises(KeyError):
            other()
    (doc,) = server_mode.documents(1)
    names = [s["name"] for s in doc["subsegments"]]
    assert names == ["custom name", "awork", "decorated"]
    assert doc["subsegments"][2]["fault"] and doc["subsegments"][2]["cause"]["exceptions"][0]["type"] == "KeyError"


def test_trace_entity_propagation_to_a_thread(server_mode):
    import threading

    segment = xray_recorder.begin_segment("main", sampling=1)

    def worker():
        xray_recorder.set_trace_entity(segment)
        with xray_recorder.in_subsegment("in thread"):
            pass

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    xray_recorder.end_segment()
    (doc,) = server_mode.documents(1)
    assert [s["name"] for s in doc["subsegments"]] == ["in thread"]


def test_configure_daemon_address_and_context_missing(server_mode, monkeypatch, daemon):
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS")
    from conftest import Daemon

    other = Daemon()
    try:
        xray_recorder.configure(
            daemon_address=other.address,
            context_missing="IGNORE_ERROR",
            service="svc",
            plugins=("EC2Plugin",),
        )
        assert xray_recorder.context_missing == "IGNORE_ERROR"
        xray_recorder.begin_segment(sampling=1)
        xray_recorder.end_segment()
        (doc,) = other.documents(1)
        assert doc["name"] == "svc"
    finally:
        other.close()
        xray_recorder.configure(context_missing="LOG_ERROR")
        _runtime.reconfigure(daemon_address=None, context_missing=None, sample_rate=None)
        xray_recorder.service = None


def test_lambda_facade_escape_hatch(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        with tracer.provider.in_subsegment("## collect_payment") as sub:
            sub.put_annotation("PaymentId", "p1")
            sub.put_metadata("payment_response", {"ok": True})
        assert tracer.provider.current_segment().kind == "facade"
        return "ok"

    assert lam.invoke(lambda_handler) == "ok"
    (root,) = lam.trees(1)
    (child,) = root.children
    assert child.name == "## collect_payment" and child.annotations == {"PaymentId": "p1"}
    assert child.metadata == {"default": {"payment_response": {"ok": True}}}
    assert root.parent_id == FACADE_ID


def test_begin_segment_inside_lambda_records_nothing(lam, caplog):
    segment = xray_recorder.begin_segment("not allowed")
    assert not segment.sampled
    assert any("Lambda" in r.getMessage() for r in caplog.records)


def test_subsegments_outside_handler_in_lambda_go_under_the_facade(lam):
    os.environ["_X_AMZN_TRACE_ID"] = "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=1"
    try:
        sub = xray_recorder.begin_subsegment("plain")
        xray_recorder.end_subsegment()
        _runtime.flush()
    finally:
        del os.environ["_X_AMZN_TRACE_ID"]
    (doc,) = lam.daemon.documents(1)
    assert doc["id"] == sub.id and doc["parent_id"] == FACADE_ID and doc["type"] == "subsegment"
    assert xray_recorder.get_trace_entity().id != FACADE_ID, "the facade does not outlive its invocation"
    assert len(assemble([doc])) == 1 and check_document(doc)


def test_sampling_rules_and_sampling_off(server_mode):
    # Default rules: 1 per second, then 5%. A rule with rate 0 and no reservoir samples nothing.
    xray_recorder.configure(sampling_rules={"version": 2, "default": {"fixed_target": 0, "rate": 0.0}, "rules": []})
    try:
        for _ in range(5):
            xray_recorder.begin_segment("ruled")
            xray_recorder.end_segment()
        xray_recorder.configure(sampling=False)  # as in the SDK: every segment is sampled
        for _ in range(3):
            xray_recorder.begin_segment("all")
            xray_recorder.end_segment()
        docs = server_mode.documents(3)
        assert [d["name"] for d in docs] == ["all", "all", "all"]
        xray_recorder.configure(sampling_rules={"version": 9})  # invalid: logged, ignored
    finally:
        _runtime.reconfigure(sampling_rules=None, sample_rate=None)
