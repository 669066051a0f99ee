"""Tracing never raises into user code: bad keys, bad values, circular or unserializable
metadata, no context, a dead daemon. Everything is logged on logger ``oxray`` and counted."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import io
import json
import logging
import math
import uuid

import pytest

from oxray import Tracer, _runtime, xray_recorder
from oxray.testing import capture_traces


@pytest.fixture
def tracer():
    return Tracer(service="payment")


class Unprintable:
    def __str__(self):
        raise RuntimeError("no str")

    __repr__ = __str__


@dataclasses.dataclass
class Order:
    id: int
    items: list


def test_bad_annotations_are_logged_and_dropped(traces, tracer, caplog):
    @tracer.capture_method
    def work():
        tracer.put_annotation("ok", 1)
        tracer.put_annotation("has-dash", "kept as has_dash")
        tracer.put_annotation("", "empty key")
        tracer.put_annotation(123, "non-str key")
        tracer.put_annotation("none", None)
        tracer.put_annotation("list", [1])
        tracer.put_annotation("nan", math.nan)
        tracer.put_annotation("big", 10**30)
        tracer.put_annotation("long", "x" * 2000)
        return "fine"

    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert work() == "fine"
    (node,) = traces.nodes()
    ann = node.annotations
    assert ann["ok"] == 1 and ann["has_dash"] == "kept as has_dash"
    assert "none" not in ann and "list" not in ann and "" not in ann
    assert ann["nan"] == "NaN" and isinstance(ann["big"], float) and len(ann["long"]) == 1000
    messages = " ".join(r.getMessage() for r in caplog.records)
    for fragment in ("has-dash", "empty", "not a str", "NoneType", "list"):
        assert fragment in messages
    assert traces.counters["warnings"] >= 5


def test_metadata_conversions_never_consume_or_mutate(traces, tracer):
    stream = io.BytesIO(b"payload")
    gen = (i for i in range(3))
    it = iter([1, 2, 3])
    data = {"list": [1, 2]}
    cyclic = {"name": "loop"}
    cyclic["self"] = cyclic

    @tracer.capture_method
    def work():
        tracer.put_metadata("stream", stream)
        tracer.put_metadata("gen", gen)
        tracer.put_metadata("iter", it)
        tracer.put_metadata("data", data)
        tracer.put_metadata(
            "values",
            {
                "bytes": b"abc",
                "binary": b"\xff\x00",
                "set": {1},
                "tuple": (1, 2),
                (1, 2): "tuple key",
                None: "none key",
                3: "int key",
                "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
                "day": datetime.date(2024, 1, 2),
                "dec": decimal.Decimal("1.10"),
                "uuid": uuid.UUID(int=1),
                "order": Order(1, ["a"]),
                "nan": math.nan,
                "inf": -math.inf,
                "big": 2**80,
                "obj": Unprintable(),
                "exc": ValueError("x"),
                "type": int,
                "fn": len,
            },
        )
        tracer.put_metadata("cyclic", cyclic)
        return None

    work()
    data["list"].append(3)
    assert stream.read() == b"payload" and list(gen) == [0, 1, 2] and list(it) == [1, 2, 3]
    (node,) = traces.nodes()
    md = node.metadata["payment"]
    assert "BytesIO" in md["stream"] and "generator" in md["gen"] and "list_iterator" in md["iter"]
    assert md["data"] == {"list": [1, 2]}, "converted at put time: later changes not recorded"
    v = md["values"]
    assert v["bytes"] == "abc" and v["binary"].startswith("base64:") and v["set"] == [1]
    assert v["tuple"] == [1, 2] and v["(1, 2)"] == "tuple key" and v["null"] == "none key"
    assert v["3"] == "int key" and v["when"] == "2024-01-02T03:04:05" and v["day"] == "2024-01-02"
    assert v["dec"] == "1.10" and v["uuid"] == str(uuid.UUID(int=1))
    assert v["order"] == {"id": 1, "items": ["a"]}
    assert v["nan"] == "NaN" and v["inf"] == "-Infinity" and v["big"] == str(2**80)
    assert v["obj"] == {} and v["exc"] == {} and v["type"] == "<class 'int'>"
    assert md["cyclic"] == {"name": "loop", "self": "<circular reference>"}


def test_pydantic_like_models(traces, tracer):
    class Model:
        def model_dump(self, mode="python"):
            return {"mode": mode, "a": 1}

    class Broken:
        def model_dump(self, mode="python"):
            raise RuntimeError("cannot dump")

    @tracer.capture_method
    def work():
        tracer.put_metadata("model", Model())
        tracer.put_metadata("broken", Broken())

    work()
    (node,) = traces.nodes()
    assert node.metadata["payment"]["model"] == {"mode": "json", "a": 1}
    assert node.metadata["payment"]["broken"] == "<unserializable Broken>"


def test_reserved_and_bad_namespaces(traces, tracer, caplog):
    @tracer.capture_method
    def work():
        tracer.put_metadata("k", 1, namespace="AWS.internal")
        tracer.put_metadata("k", 2, namespace="")
        return 0

    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert work() == 0
    (node,) = traces.nodes()
    assert node.metadata == {"payment": {"k": 2, node.name[3:] + " response": 0}}
    assert any("reserved" in r.getMessage() for r in caplog.records)


def test_outside_any_subsegment_in_lambda_is_logged(lam, caplog):
    tracer = Tracer()
    with caplog.at_level(logging.WARNING, logger="oxray"):
        tracer.put_annotation("init", True)  # init phase: no header, nothing recorded
        lam.invoke(lambda e, c: tracer.put_annotation("PaymentId", "p"))
        lam.invoke(lambda e, c: tracer.put_metadata("k", "v"))
    assert lam.daemon.documents() == []
    assert sum("facade" in r.getMessage() for r in caplog.records) == 2


def test_recorder_api_outside_any_segment(caplog, monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.delenv("AWS_XRAY_CONTEXT_MISSING", raising=False)
    _runtime.swap(None)
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert xray_recorder.begin_subsegment("orphan") is None
        xray_recorder.end_subsegment()
        xray_recorder.put_annotation("k", "v")
        xray_recorder.end_segment()
        with xray_recorder.in_subsegment("x") as sub:
            assert sub is None
    assert sum("segment" in r.getMessage() for r in caplog.records) >= 4
    _runtime.swap(None)


def test_runtime_error_strategy_raises_only_from_the_recorder_api(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.setenv("AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR")
    _runtime.swap(None)
    from oxray.recorder import SegmentNotFoundException

    with pytest.raises(SegmentNotFoundException):
        xray_recorder.begin_subsegment("x")
    tracer = Tracer(disabled=False)

    @tracer.capture_method
    def f():
        return 1

    assert f() == 1, "decorators never raise"
    Tracer._reset_config()
    _runtime.swap(None)


def test_daemon_down_is_counted_not_raised(lam, monkeypatch, caplog):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{port}")
    _runtime.swap(None)
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def handler(event, context):
        return "still fine"

    with caplog.at_level(logging.WARNING, logger="oxray"):
        for _ in range(3):
            assert lam.invoke(handler) == "still fine"
        _runtime.flush()
    counters = _runtime.recorder().counters()
    assert counters["sent"] + counters["dropped"] == 3


def test_invalid_daemon_address_is_logged_and_default_kept(monkeypatch, caplog):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "not an address")
    _runtime.swap(None)
    with caplog.at_level(logging.WARNING, logger="oxray"):
        rec = _runtime.recorder()
        xray_recorder.get_trace_entity()
    assert rec.daemon_address == "127.0.0.1:2000"
    assert any("AWS_XRAY_DAEMON_ADDRESS" in r.getMessage() for r in caplog.records)
    _runtime.swap(None)


def test_handler_result_and_exception_pass_through_unchanged(traces, tracer):
    sentinel = object()

    @tracer.capture_lambda_handler
    def ok(event, context):
        return sentinel

    class Custom(BaseException):
        pass

    err = Custom("stop")

    @tracer.capture_lambda_handler
    def bad(event, context):
        raise err

    assert ok({}, None) is sentinel
    with pytest.raises(Custom) as raised:
        bad({}, None)
    assert raised.value is err and vars(err) == {}


def test_huge_metadata_is_truncated_with_a_marker(traces, tracer):
    @tracer.capture_method
    def work():
        tracer.put_metadata("blob", "y" * 500_000)
        tracer.put_metadata("many", list(range(200_000)))

    work()
    (node,) = traces.nodes()
    text = json.dumps(node.metadata, ensure_ascii=False)
    assert "truncated" in text and len(json.dumps(node.doc)) <= 64_000
    assert traces.counters["truncated"] == 1


def test_capture_traces_outside_lambda_needs_no_environment(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    Tracer._reset_config()
    tracer = Tracer()
    assert tracer.disabled

    @tracer.capture_method
    def f():
        return 1

    with capture_traces() as traces:
        f()
    assert len(traces.nodes()) == 1
    Tracer._reset_config()


def test_fixture_is_registered(oxray_traces):
    tracer = Tracer(service="s")

    @tracer.capture_method
    def f():
        return 2

    f()
    assert [n.name for n in oxray_traces.nodes()] == [f"## {__name__}.test_fixture_is_registered.locals.f"]


def test_entity_methods_take_wrong_types_without_raising(traces, caplog):
    from oxray import xray_recorder

    with xray_recorder.in_subsegment("typed") as sub:
        assert sub.set_user(None) is False
        assert sub.set_aws(None, 1) is False
        assert sub.set_namespace(3) is True  # not a namespace: local work
        assert sub.apply_status_code("x") is False
        assert sub.apply_status_code(429) is True
        assert sub.put_metadata(None, 1) is True  # recorded under "null", as json.dumps writes it
    (node,) = traces.nodes()
    assert node.throttle and node.error and "user" not in node.doc
    assert node.metadata == {"default": {"null": 1}}
