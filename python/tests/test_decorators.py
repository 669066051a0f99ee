"""Every capture_method form, names, shared configuration; recorded with oxray.testing
(documents schema-validated by the ``traces`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from oxray import Tracer

MOD = __name__


def label(node):
    return node.name[3:]


def response(node, service="payment"):
    return node.metadata.get(service, {}).get(label(node) + " response")


@pytest.fixture
def tracer(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payment")
    return Tracer()


def test_plain_function_and_names(traces, tracer):
    @tracer.capture_method
    def collect(x):
        return x + 1

    assert collect(1) == 2
    assert collect.__name__ == "collect" and collect.__wrapped__(1) == 2
    (node,) = traces.nodes()
    assert node.name == f"## {MOD}.test_plain_function_and_names.locals.collect"
    assert response(node) == 2


class PaymentService:
    def __init__(self, tracer):
        self.tracer = tracer


def test_methods_static_and_class_methods(traces, tracer):
    class Service:
        @tracer.capture_method
        def charge(self, amount):
            return amount

        @tracer.capture_method
        @staticmethod
        def refund(amount):
            return -amount

        @staticmethod
        @tracer.capture_method
        def void(amount):
            return 0

        @tracer.capture_method
        @classmethod
        def name(cls):
            return cls.__name__

    s = Service()
    assert (s.charge(5), Service.refund(5), s.refund(3), Service.void(1), Service.name()) == (
        5,
        -5,
        -3,
        0,
        "Service",
    )
    names = [n.name.rsplit(".", 1)[1] for n in traces.nodes()]
    assert sorted(names) == ["charge", "name", "refund", "refund", "void"]
    assert all(".Service." in n.name for n in traces.nodes())


def test_weird_names_are_sanitized(traces):
    tracer = Tracer(service="booking")

    def weird():
        return None

    weird.__qualname__ = "weird?name;with*chars(1)!$~^<>"
    tracer.capture_method(weird)()
    (node,) = traces.nodes()
    assert node.name == f"## {MOD}.weirdnamewithchars1"


def test_async_function(traces, tracer):
    @tracer.capture_method
    async def fetch(n):
        await asyncio.sleep(0)
        return n

    assert asyncio.run(fetch(3)) == 3
    (node,) = traces.nodes()
    assert response(node) == 3


def test_generator_response_is_return_value(traces, tracer):
    @tracer.capture_method
    def numbers():
        yield 1
        got = yield 2
        return f"done {got}"

    gen = numbers()
    assert next(gen) == 1 and next(gen) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send("x")
    assert stop.value.value == "done x"
    (node,) = traces.nodes()
    assert response(node) == "done x" and not node.fault


def test_generator_closed_early_is_not_a_fault(traces, tracer):
    @tracer.capture_method
    def numbers():
        yield 1
        yield 2

    gen = numbers()
    assert next(gen) == 1
    gen.close()
    (node,) = traces.nodes()
    assert not node.fault and "cause" not in node.doc


def test_generator_throw_and_error(traces, tracer):
    @tracer.capture_method
    def numbers():
        try:
            yield 1
        except KeyError:
            yield "recovered"
        raise ValueError("boom")

    gen = numbers()
    next(gen)
    assert gen.throw(KeyError("k")) == "recovered"
    with pytest.raises(ValueError):
        next(gen)
    (node,) = traces.nodes()
    assert node.fault and node.cause["exceptions"][0]["type"] == "ValueError"


def test_work_between_items_is_not_a_child_of_the_generator(traces, tracer):
    @tracer.capture_method
    def items():
        yield 1
        yield 2

    @tracer.capture_method
    def consume(x):
        return x

    for item in items():
        consume(item)
    gen_node = next(n for n in traces.nodes() if n.name.endswith("items"))
    assert gen_node.children == []
    assert len([r for r in traces.roots if r.name.endswith("consume")]) == 2


def test_contextmanager_outside_capture_method(traces, tracer):
    # The seed's order: @contextmanager outside: the generator has no return value.
    @contextlib.contextmanager
    @tracer.capture_method
    def session():
        tracer.put_annotation("PaymentId", "p1")
        yield "conn"

    with session() as conn:
        assert conn == "conn"
    (node,) = traces.nodes()
    assert node.annotations == {"PaymentId": "p1"} and response(node) is None


def test_capture_method_outside_contextmanager(traces, tracer):
    # The docstring order: the yielded value is the response, the `with` block is inside.
    @tracer.capture_method
    @contextlib.contextmanager
    def session():
        tracer.put_annotation("PaymentId", "p2")
        yield "conn"

    @tracer.capture_method
    def inside():
        return 1

    with session() as conn:
        assert conn == "conn"
        inside()
    (node,) = traces.roots
    assert node.annotations == {"PaymentId": "p2"} and response(node) == "conn"
    assert [c.name.rsplit(".", 1)[1] for c in node.children] == ["inside"]


def test_capture_method_outside_contextmanager_error(traces, tracer):
    @tracer.capture_method
    @contextlib.contextmanager
    def session():
        yield "conn"

    with pytest.raises(RuntimeError):
        with session():
            raise RuntimeError("inside")
    (node,) = traces.nodes()
    assert node.fault and node.cause["exceptions"][0]["type"] == "RuntimeError"


def test_async_generator_and_async_contextmanager(traces, tracer):
    @tracer.capture_method
    async def ticks():
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    @tracer.capture_method
    @contextlib.asynccontextmanager
    async def connection():
        yield "aconn"

    async def main():
        items = [i async for i in ticks()]
        async with connection() as c:
            return items, c

    assert asyncio.run(main()) == ([0, 1, 2], "aconn")
    gen_node = next(n for n in traces.nodes() if n.name.endswith("ticks"))
    cm_node = next(n for n in traces.nodes() if n.name.endswith("connection"))
    assert not gen_node.fault and response(cm_node) == "aconn"


def test_capture_response_and_error_flags(traces, tracer):
    @tracer.capture_method(capture_response=False)
    def quiet():
        return "secret"

    @tracer.capture_method(capture_error=False)
    def failing():
        raise KeyError("missing")

    assert quiet() == "secret"
    with pytest.raises(KeyError):
        failing()
    q, f = sorted(traces.nodes(), key=lambda n: n.doc["start_time"])
    assert "metadata" not in q.doc and "metadata" not in f.doc
    assert f.cause["exceptions"][0]["message"] == "'missing'"


def test_shared_configuration_across_instances(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    Tracer._reset_config()
    first = Tracer(service="orders", auto_patch=False)
    second = Tracer()
    assert second.service == "orders" and second.auto_patch is False
    assert first.provider is second.provider
    from oxray import xray_recorder

    assert first.provider is xray_recorder
    Tracer._reset_config()
    assert Tracer(disabled=True).disabled
    assert Tracer(disabled=False).disabled, "once disabled, every later instance is disabled"
    Tracer._reset_config()


def test_invalid_boolean_env_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "maybe")
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "sometimes")
    Tracer._reset_config()
    tracer = Tracer()
    tracer.capture_method(lambda: 1)
    assert any("POWERTOOLS_TRACE_DISABLED" in r.getMessage() for r in caplog.records)
    assert any("POWERTOOLS_TRACER_CAPTURE_RESPONSE" in r.getMessage() for r in caplog.records)
    Tracer._reset_config()


def test_disabled_tracer_calls_through(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    Tracer._reset_config()
    tracer = Tracer()
    assert tracer.disabled

    @tracer.capture_method
    def f(x):
        tracer.put_annotation("k", "v")
        tracer.put_metadata("k", "v")
        return x

    assert f(7) == 7
    Tracer._reset_config()
