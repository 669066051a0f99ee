"""End to end under a simulated Lambda: handler + capture_method, real UDP to a local
listener, trees reassembled from the datagrams."""

from __future__ import annotations

import asyncio
import logging

import pytest

from conftest import FACADE_ID, HEADER, TRACE_ID
from oxray import Tracer

HEADER_2 = "Root=1-6740c2a1-5f1e2d3c4b5a69788796a002;Parent=53995c3f42cd8002;Sampled=1"


class PaymentError(Exception):
    def __init__(self, message: str, charge_id: str) -> None:
        super().__init__(message)
        self.charge_id = charge_id


def test_handler_and_method_tree(lam):
    tracer = Tracer()

    @tracer.capture_method
    def collect_payment(charge_id):
        tracer.put_annotation("PaymentId", charge_id)
        tracer.put_metadata("payment_response", {"ok": True, "id": charge_id})
        return {"charged": charge_id}

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return collect_payment(event["id"])

    assert lam.invoke(lambda_handler, {"id": "ch_1"}) == {"charged": "ch_1"}
    docs = lam.daemon.documents(1)
    assert len(docs) == 1, "the method is embedded in the handler document"
    (root,) = lam.trees()
    assert root.name == "## lambda_handler"
    assert root.parent_id == FACADE_ID and root.trace_id == TRACE_ID
    assert root.doc["type"] == "subsegment"
    assert root.annotations == {"ColdStart": True, "Service": "payment"}
    assert root.metadata == {"payment": {"lambda_handler response": {"charged": "ch_1"}}}
    name = f"## {__name__}.test_handler_and_method_tree.locals.collect_payment"
    (child,) = root.children
    assert child.name == name
    assert child.annotations == {"PaymentId": "ch_1"}
    label = name[3:]
    assert child.metadata == {
        "payment": {
            "payment_response": {"ok": True, "id": "ch_1"},
            f"{label} response": {"charged": "ch_1"},
        }
    }
    assert "namespace" not in child.doc


def test_cold_then_warm(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return "ok"

    lam.invoke(lambda_handler)
    lam.invoke(lambda_handler, header=HEADER_2)
    first, second = lam.trees(2)
    assert first.annotations["ColdStart"] is True and second.annotations["ColdStart"] is False
    assert first.parent_id == FACADE_ID and second.parent_id == "53995c3f42cd8002"
    assert second.trace_id == "1-6740c2a1-5f1e2d3c4b5a69788796a002"


def test_cold_start_goes_to_the_first_handler_to_complete(lam):
    # Powertools takes the flag when a decorated handler completes: with a decorated handler
    # calling another, the inner one completes first and is the cold one.
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def inner_handler(event, context):
        return "inner"

    @tracer.capture_lambda_handler
    def outer_handler(event, context):
        return inner_handler(event, context)

    lam.invoke(outer_handler)
    (outer,) = lam.trees(1)
    (inner,) = outer.children
    assert outer.name == "## outer_handler" and inner.name == "## inner_handler"
    assert inner.annotations["ColdStart"] is True
    assert outer.annotations["ColdStart"] is False


def test_a_failed_first_invocation_is_the_cold_one(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        if event.get("fail"):
            raise ValueError("first one fails")
        return "ok"

    with pytest.raises(ValueError):
        lam.invoke(lambda_handler, {"fail": True})
    lam.invoke(lambda_handler, {}, header=HEADER_2)
    first, second = lam.trees(2)
    assert first.annotations["ColdStart"] is True and first.doc["fault"] is True
    assert second.annotations["ColdStart"] is False


def test_metadata_keys_that_are_not_str_are_recorded_as_json_writes_them(lam):
    # The SDK keeps such a key and its json.dumps writes it as text; oxray records the same
    # text rather than dropping the value (a tuple, which json.dumps refuses, by its str()).
    tracer = Tracer()

    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event, context):
        tracer.put_metadata(7, "seven")
        tracer.put_metadata(True, "yes")
        tracer.put_metadata(None, "none")
        tracer.put_metadata((1, 2), "pair")
        tracer.put_metadata(1.5, {3: "three"})

    lam.invoke(lambda_handler)
    (root,) = lam.trees(1)
    recorded = {"7": "seven", "true": "yes", "null": "none", "(1, 2)": "pair", "1.5": {"3": "three"}}
    assert root.metadata == {"payment": recorded}


def test_provisioned_concurrency_is_never_cold(lam, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return None

    lam.invoke(lambda_handler)
    (root,) = lam.trees(1)
    assert root.annotations["ColdStart"] is False
    assert "metadata" not in root.doc, "a None response records nothing"


def test_error_cause_and_reference(lam):
    tracer = Tracer()

    @tracer.capture_method
    def charge():
        raise PaymentError("card declined", "ch_123")

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return charge()

    with pytest.raises(PaymentError) as raised:
        lam.invoke(lambda_handler)
    assert str(raised.value) == "card declined" and raised.value.charge_id == "ch_123"
    assert not [a for a in vars(raised.value) if a.startswith("_")], "exception left untouched"
    (root,) = lam.trees(1)
    (child,) = root.children
    assert child.fault and root.fault
    (exc,) = child.cause["exceptions"]
    assert exc["type"] == "PaymentError" and exc["message"] == "card declined"
    assert child.cause["working_directory"]
    assert exc["stack"][0]["label"] == "charge", "innermost frame first"
    assert all("oxray" not in frame["path"] for frame in exc["stack"])
    assert root.cause == exc["id"]
    label = child.name[3:]
    assert child.metadata["payment"][f"{label} error"] == {"charge_id": "ch_123"}
    assert root.metadata["payment"]["lambda_handler error"] == {"charge_id": "ch_123"}


def test_capture_error_false_keeps_cause_drops_metadata(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler(capture_error=False)
    def lambda_handler(event, context):
        raise PaymentError("declined", "ch_1")

    with pytest.raises(PaymentError):
        lam.invoke(lambda_handler)
    (root,) = lam.trees(1)
    assert root.fault and root.cause["exceptions"][0]["type"] == "PaymentError"
    assert "metadata" not in root.doc


def test_capture_response_env_false(lam, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
    tracer = Tracer()

    @tracer.capture_method
    def work():
        return "secret"

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return work()

    assert lam.invoke(lambda_handler) == "secret"
    (root,) = lam.trees(1)
    assert "metadata" not in root.doc and "metadata" not in root.children[0].doc


def test_falsy_responses_are_captured(lam):
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return event["value"]

    for value in ("", 0, []):
        lam.invoke(lambda_handler, {"value": value})
    roots = lam.trees(3)
    assert [r.metadata["payment"]["lambda_handler response"] for r in roots] == ["", 0, []]


@pytest.mark.parametrize(
    "header",
    [
        "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=0",
        None,
        "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4",
        "garbage-header",
    ],
)
def test_unsampled_or_missing_header_sends_nothing(lam, header):
    tracer = Tracer()

    @tracer.capture_method
    def work():
        tracer.put_annotation("k", "v")
        return 42

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return work()

    assert lam.invoke(lambda_handler, header=header) == 42
    assert lam.daemon.documents() == []


@pytest.mark.parametrize(
    "env",
    [
        {"POWERTOOLS_TRACE_DISABLED": "true"},
        {"AWS_SAM_LOCAL": "true"},
        {"AWS_CHALICE_CLI_MODE": "1"},
    ],
)
def test_disabled_by_environment(lam, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    tracer = Tracer()
    assert tracer.disabled

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return "ok"

    assert lam.invoke(lambda_handler) == "ok"
    assert lam.daemon.documents() == []


def test_outside_lambda_is_disabled(lam, monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    tracer = Tracer()
    assert tracer.disabled

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return "ok"

    assert lam.invoke(lambda_handler) == "ok"


def test_forced_on_outside_lambda_never_breaks_the_handler(lam, monkeypatch, caplog):
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    tracer = Tracer(disabled=False)
    assert not tracer.disabled

    @tracer.capture_method
    def work():
        tracer.put_annotation("k", 1)
        return 5

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return work()

    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert lam.invoke(lambda_handler) == 5
    assert any("segment" in r.getMessage() for r in caplog.records)
    assert lam.daemon.documents() == []


def test_async_handler_is_awaited_and_traced(lam):
    tracer = Tracer()

    @tracer.capture_method
    async def fetch(n):
        await asyncio.sleep(0)
        return n * 2

    @tracer.capture_lambda_handler
    async def lambda_handler(event, context):
        return await fetch(21)

    assert lam.invoke(lambda_handler) == 42
    (root,) = lam.trees(1)
    assert root.metadata["payment"]["lambda_handler response"] == 42
    assert len(root.children) == 1 and root.children[0].metadata


def test_many_methods_and_large_response_arrive(lam):
    tracer = Tracer()

    @tracer.capture_method
    def big():
        return "x" * 70_000

    @tracer.capture_method
    def small(i):
        return i

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        for i in range(150):
            small(i)
        return len(big())

    assert lam.invoke(lambda_handler) == 70_000
    docs = lam.daemon.documents()
    roots = lam.trees()
    nodes = [n for r in roots for n in r.walk()]
    assert sum(1 for n in nodes if n.name.endswith("small")) == 150
    (big_node,) = [n for n in nodes if n.name.endswith("big")]
    value = big_node.metadata["payment"][big_node.name[3:] + " response"]
    assert "truncated" in value, "cut with a visible marker, never lost"
    (handler,) = [r for r in roots if r.name == "## lambda_handler"]
    assert handler.parent_id == FACADE_ID
    assert all(len(__import__("json").dumps(d)) <= 64_000 for d in docs)


def test_header_read_per_invocation_not_at_import(lam):
    # The trace header is absent while the module (here: the decorators) is set up.
    import os

    assert "_X_AMZN_TRACE_ID" not in os.environ
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return os.environ["_X_AMZN_TRACE_ID"]

    assert lam.invoke(lambda_handler) == HEADER
    assert lam.invoke(lambda_handler, header=HEADER_2) == HEADER_2
    a, b = lam.trees(2)
    assert (a.trace_id, b.trace_id) == (TRACE_ID, "1-6740c2a1-5f1e2d3c4b5a69788796a002")


def test_xray_sdk_disabled_by_environment_records_nothing(lam, monkeypatch):
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
    tracer = Tracer()

    @tracer.capture_method
    def work():
        tracer.put_annotation("k", "v")
        return 3

    @tracer.capture_lambda_handler
    def lambda_handler(event, context):
        return work()

    assert lam.invoke(lambda_handler) == 3
    assert lam.daemon.documents() == []
