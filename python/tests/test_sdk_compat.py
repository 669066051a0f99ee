"""What code written for Powertools and the X-Ray SDK does through oxray: the escape hatch with
tracing off (dummy entities, never None), patch names only the SDK knows, a traced
``@contextmanager`` used as a decorator, the SDK's entity methods (``put_http_meta``, the
flag setters, ``set_aws`` with a dict, ``add_exception(e, stack)``) and its read-back
(``serialize``, ``to_dict``, ``annotations``, ``metadata``, ``namespace``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback

import pytest

from conftest import FACADE_ID, TRACE_ID, check_document, reset_oxray
from oxray import Tracer, xray_recorder


@pytest.fixture
def outside_lambda(monkeypatch, daemon):
    for key in ("LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "_X_AMZN_TRACE_ID", "POWERTOOLS_TRACE_DISABLED"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    reset_oxray()
    yield daemon
    xray_recorder.clear_trace_entities()
    reset_oxray()


def _use_every_escape_hatch_entry(provider) -> None:
    """What unit-tested code typically does with the escape hatch."""
    with provider.in_subsegment("manual") as sub:
        sub.put_annotation("k", 1)
        sub.put_metadata("m", {"a": 1})
        sub.add_fault_flag()
        sub.put_http_meta("status", 500)

    async def in_task() -> None:
        async with provider.in_subsegment_async("manual async") as sub:
            sub.put_annotation("k", 2)

    asyncio.run(in_task())
    sub = provider.begin_subsegment("begun")
    sub.put_annotation("k", 3)
    provider.current_subsegment().put_annotation("k", 4)
    provider.current_segment().put_annotation("k", 5)
    provider.end_subsegment()


def test_escape_hatch_outside_lambda_hands_out_entities_that_send_nothing(outside_lambda, caplog):
    tracer = Tracer(service="payment")
    assert tracer.disabled
    with caplog.at_level(logging.WARNING, logger="oxray"):
        _use_every_escape_hatch_entry(tracer.provider)
    assert outside_lambda.documents() == []
    # Nothing to complain about: tracing is off, not misused.
    assert [r.getMessage() for r in caplog.records] == []


def test_escape_hatch_with_tracing_disabled_in_lambda_sends_nothing(lam, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = Tracer()

    def handler(event, context):
        _use_every_escape_hatch_entry(tracer.provider)
        return "ok"

    assert lam.invoke(handler) == "ok"
    xray_recorder.flush()
    assert lam.daemon.documents() == []


def test_escape_hatch_with_tracing_on_in_lambda_still_records(lam):
    tracer = Tracer()

    def handler(event, context):
        with tracer.provider.in_subsegment("manual") as sub:
            sub.put_annotation("k", 1)

    lam.invoke(handler)
    xray_recorder.flush()
    (doc,) = lam.daemon.documents(1)
    assert doc["name"] == "manual" and doc["annotations"] == {"k": 1}


def test_patch_names_only_the_sdk_knows_are_logged_not_raised(lam, caplog):
    import botocore.client

    with caplog.at_level(logging.WARNING, logger="oxray"):
        tracer = Tracer(patch_modules=["boto3", "pynamodb", "psycopg2", "aioboto3", "sqlalchemy_core"])
    assert not tracer.disabled
    warned = [r.getMessage() for r in caplog.records if "X-Ray SDK" in r.getMessage()]
    assert len(warned) == 1 and "psycopg2" in warned[0] and "pynamodb" in warned[0], warned
    from oxray import patches

    assert "botocore" in patches.patched()
    assert getattr(botocore.client.BaseClient._make_api_call, "__oxray__", False)
    # A name nobody knows is still an error, as in the SDK.
    with pytest.raises(ValueError, match="not supported"):
        tracer.patch(["no_such_library"])


def test_a_traced_contextmanager_works_as_a_decorator(traces):
    tracer = Tracer(service="svc")

    @tracer.capture_method
    @contextlib.contextmanager
    def timed(label):
        yield label

    @timed("sync")
    def work(x):
        return x * 2

    @tracer.capture_method
    @contextlib.asynccontextmanager
    async def timed_async(label):
        yield label

    @timed_async("async")
    async def work_async(x):
        return x + 1

    @tracer.capture_lambda_handler
    def handler(event, context):
        return work(2) + work(3) + asyncio.run(work_async(1))

    assert handler({}, None) == 12
    names = [n.name for n in traces.nodes()]
    assert sum(name.endswith("locals.timed") for name in names) == 2, names
    assert sum(name.endswith("locals.timed_async") for name in names) == 1, names


def test_a_manager_without_a_decorator_form_still_refuses_to_decorate(traces):
    tracer = Tracer(service="svc")

    class Plain:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    traced = tracer.capture_method(lambda: Plain())
    with pytest.raises(TypeError, match="not callable"):
        traced()(lambda: None)


def test_sdk_entity_methods(lam):
    tracer = Tracer()

    def handler(event, context):
        with tracer.provider.in_subsegment("api.example.com", namespace="remote") as sub:
            sub.put_http_meta("method", "get")
            sub.put_http_meta("url", "https://api.example.com/items")
            sub.put_http_meta("status", "503")
            sub.put_http_meta("content_length", 12)
            sub.put_http_meta("user_agent", None)  # None is ignored, as in the SDK
            assert sub.put_http_meta("colour", "red") is False
            sub.add_throttle_flag()
            sub.add_error_flag()
        with tracer.provider.in_subsegment("DynamoDB", namespace="aws") as aws:
            aws.set_aws({"operation": "GetItem", "region": "us-east-1", "retries": 0})
            assert aws.set_aws({"account_id": 123}) is False  # the schema's type: a string
        with tracer.provider.in_subsegment("failing") as failing:
            try:
                raise KeyError("missing")
            except KeyError as err:
                assert failing.add_exception(err, traceback.extract_stack()) is not None

    lam.invoke(handler)
    xray_recorder.flush()
    docs = {d["name"]: d for d in lam.daemon.documents(3)}
    api = docs["api.example.com"]
    assert api["http"] == {
        "request": {"method": "GET", "url": "https://api.example.com/items"},
        "response": {"status": 503, "content_length": 12},
    }
    assert api["fault"] is True and api["throttle"] is True and api["error"] is True
    assert docs["DynamoDB"]["aws"] == {"operation": "GetItem", "region": "us-east-1", "retries": 0}
    (exc,) = docs["failing"]["cause"]["exceptions"]
    assert exc["type"] == "KeyError" and docs["failing"]["fault"] is True


def test_an_undecorated_handler_has_sent_its_subsegments_when_it_returns(lam):
    """Without ``capture_lambda_handler`` nothing flushes at the end of the invocation, and
    Lambda may freeze the process as soon as the handler returns: each top-level subsegment
    is sent from the calling thread when it ends, as the X-Ray SDK sends it."""
    tracer = Tracer()

    @tracer.capture_method
    def charge(order_id):
        tracer.put_annotation("OrderId", order_id)
        return order_id

    def handler(event, context):
        with tracer.provider.in_subsegment("manual"):
            pass
        return [charge(f"o-{i}") for i in range(3)]

    assert lam.invoke(handler) == ["o-0", "o-1", "o-2"]
    # Counted as sent before anything flushed: the datagrams left inside the handler.
    assert xray_recorder.counters()["sent"] == 4
    docs = lam.daemon.documents(4)
    names = sorted(d["name"] for d in docs)
    assert names[3] == "manual" and all(name.endswith("locals.charge") for name in names[:3]), names


def test_entities_can_be_read_back_while_open(lam):
    """``serialize()`` / ``to_dict()`` and the ``annotations`` / ``metadata`` / ``namespace``
    attributes, as tests written for the SDK read them: the document as it stands, sending
    nothing."""
    seen = {}

    def handler(event, context):
        with xray_recorder.in_subsegment("outer") as outer:
            outer.put_annotation("order", "o-1")
            outer.put_metadata("cart", {"items": 2}, "shop")
            with xray_recorder.in_subsegment("inner") as inner:
                inner.set_namespace("remote")
                seen["inner namespace"] = inner.namespace
            seen["annotations"] = outer.annotations
            seen["metadata"] = outer.metadata
            seen["namespace"] = outer.namespace
            seen["dict"] = outer.to_dict()
            seen["text"] = outer.serialize()
            seen["sent while open"] = xray_recorder.counters()["sent"]
        seen["after end"] = outer.to_dict()
        return "ok"

    lam.invoke(handler)
    assert seen["annotations"] == {"order": "o-1"}
    assert seen["metadata"] == {"shop": {"cart": {"items": 2}}}
    assert seen["namespace"] is None and seen["inner namespace"] == "remote"
    doc = seen["dict"]
    # What is read back is a document as it would be sent: the schema and PROTOCOL.md's rules.
    assert check_document(seen["text"]) == doc
    assert doc["in_progress"] is True and "end_time" not in doc
    assert doc["type"] == "subsegment" and doc["parent_id"] == FACADE_ID and doc["trace_id"] == TRACE_ID
    assert [s["name"] for s in doc["subsegments"]] == ["inner"]
    assert json.loads(seen["text"]) == doc
    assert seen["sent while open"] == 0, "reading sends nothing"
    # Ended, its document was sent: what is left is its identity.
    assert seen["after end"] == {"name": "outer", "id": doc["id"], "trace_id": TRACE_ID, "parent_id": FACADE_ID}
    (sent,) = lam.daemon.documents(1)
    assert sent["annotations"] == {"order": "o-1"} and sent["subsegments"][0]["namespace"] == "remote"


def test_an_unsampled_or_dummy_entity_reads_back_its_identity_only(outside_lambda):
    tracer = Tracer()
    assert tracer.disabled, "outside Lambda: the escape hatch hands out dummies"
    with tracer.provider.in_subsegment("dummy") as sub:
        sub.put_annotation("k", 1)
        assert sub.annotations == {} and sub.metadata == {} and sub.namespace is None
        assert set(sub.to_dict()) == {"name", "id", "trace_id", "parent_id"}
    assert outside_lambda.documents() == []


def test_assigning_disabled_turns_tracing_off_and_back_on(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def handler(event, context):
        tracer.put_annotation("k", 1)
        return "ok"

    tracer.disabled = True
    assert tracer.disabled and Tracer().disabled, "for every instance"
    assert lam.invoke(handler) == "ok"
    assert lam.daemon.documents() == []
    tracer.disabled = False
    assert not tracer.disabled
    assert lam.invoke(handler) == "ok"
    (doc,) = lam.daemon.documents(1)
    assert doc["annotations"]["k"] == 1


def test_assigning_disabled_false_outside_lambda_leaves_it_off(outside_lambda):
    tracer = Tracer()
    tracer.disabled = False
    assert tracer.disabled, "outside Lambda without a server middleware"
