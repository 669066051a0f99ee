"""The native traced call behind ``capture_method`` on plain functions (``_core.Site.call``):
arguments, results, exceptions and the current entity behave as with the plain function."""

from __future__ import annotations

import sys

import pytest

from oxray import Tracer
from oxray.context import current


@pytest.fixture
def tracer(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payment")
    return Tracer()


class Declined(Exception):
    pass


def test_arguments_and_result_pass_through(traces, tracer):
    @tracer.capture_method
    def charge(amount, *rest, currency="EUR", **extra):
        return (amount, rest, currency, extra)

    assert charge(5) == (5, (), "EUR", {})
    assert charge(5, 6, currency="USD", note="x") == (5, (6,), "USD", {"note": "x"})
    assert charge(amount=7) == (7, (), "EUR", {})
    name = f"## {__name__}.test_arguments_and_result_pass_through.locals.charge"
    assert traces.names() == [name] * 3


def test_the_subsegment_is_current_during_the_call_only(traces, tracer):
    seen = []

    @tracer.capture_method
    def inner():
        seen.append(current())

    @tracer.capture_method
    def outer():
        seen.append(current())
        inner()
        seen.append(current())

    before = current()
    outer()
    assert current() is before
    outer_sub, inner_sub, outer_again = seen
    assert outer_sub is outer_again and inner_sub.parent is outer_sub
    assert outer_sub is not before and outer_sub.parent is before
    (o,) = traces.roots
    (i,) = o.children
    assert o.name.endswith(".outer") and i.name.endswith(".inner")


def test_exception_is_reraised_unchanged_with_its_traceback(traces, tracer):
    @tracer.capture_method
    def charge():
        raise Declined("card declined")

    before = current()
    with pytest.raises(Declined) as raised:
        charge()
    assert current() is before, "the subsegment is no longer current after the raise"
    exc = raised.value
    assert exc.__context__ is None and exc.__cause__ is None
    assert not [a for a in vars(exc) if a.startswith("_")], "exception left untouched"
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "charge", frames
    (child,) = traces.roots
    assert child.fault and child.cause["exceptions"][0]["type"] == "Declined"
    assert child.cause["exceptions"][0]["stack"][0]["label"] == "charge"
    assert child.metadata["payment"][f"{child.name[3:]} error"] is not None


def test_base_exceptions_end_the_subsegment_and_pass_through(traces, tracer):
    @tracer.capture_method
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    (child,) = traces.roots
    assert child.doc.get("end_time") is not None and child.fault
    assert "metadata" not in child.doc, "no error metadata for a BaseException"


def test_unsampled_trace_runs_the_function_untraced(tracer):
    from oxray.testing import capture_traces

    @tracer.capture_method
    def charge(x):
        return x * 2

    with capture_traces("Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=0") as captured:
        assert charge(21) == 42
    assert captured.nodes() == []


def test_reference_counts_are_not_leaked(traces, tracer):
    @tracer.capture_method
    def echo(value):
        return value

    value = object()
    echo(value)
    before = sys.getrefcount(value)
    for _ in range(100):
        echo(value)
    assert sys.getrefcount(value) == before
