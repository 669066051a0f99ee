"""oxray.middleware_factory.lambda_handler_decorator (Powertools' middleware factory) under a
simulated Lambda: options, trace_execution, POWERTOOLS_TRACE_MIDDLEWARES, errors."""

from __future__ import annotations

import functools

import pytest

from oxray import Tracer
from oxray.middleware_factory import MiddlewareInvalidArgumentError, lambda_handler_decorator


def test_bare_middleware_runs_around_the_handler_untraced(lam):
    calls = []

    @lambda_handler_decorator
    def audit(handler, event, context):
        calls.append(("before", event["id"]))
        response = handler(event, context)
        calls.append(("after", response))
        return {"wrapped": response}

    @audit
    def lambda_handler(event, context):
        return event["id"] * 2

    assert lambda_handler.__name__ == "lambda_handler"
    assert lam.invoke(lambda_handler, {"id": 21}) == {"wrapped": 42}
    assert calls == [("before", 21), ("after", 42)]
    assert lam.daemon.documents(0) == [], "not traced without trace_execution"


def test_options_reach_the_middleware(lam):
    @lambda_handler_decorator
    def mask(handler, event, context, fields=None):
        return handler({k: ("***" if k in (fields or ()) else v) for k, v in event.items()}, context)

    @mask(fields=["card"])
    def lambda_handler(event, context):
        return event

    assert lam.invoke(lambda_handler, {"card": "4111", "id": 1}) == {"card": "***", "id": 1}


def test_trace_execution_nests_the_handler_work_under_the_middleware(lam):
    tracer = Tracer()

    @lambda_handler_decorator(trace_execution=True)
    def timing(handler, event, context):
        tracer.put_annotation("Middleware", "timing")
        return handler(event, context)

    @tracer.capture_method
    def charge(order_id):
        return {"charged": order_id}

    @tracer.capture_lambda_handler
    @timing
    def lambda_handler(event, context):
        return charge(event["id"])

    assert lam.invoke(lambda_handler, {"id": "o-1"}) == {"charged": "o-1"}
    (root,) = lam.trees(1)
    assert root.name == "## lambda_handler"
    (middleware,) = root.children
    # Named after the middleware's qualname (without the module), as in Powertools.
    assert middleware.name == "## test_trace_execution_nests_the_handler_work_under_the_middleware.locals.timing"
    assert middleware.annotations == {"Middleware": "timing"}
    assert "metadata" not in middleware.doc, "no response metadata for a middleware"
    assert [c.name for c in middleware.children] == [
        f"## {__name__}.test_trace_execution_nests_the_handler_work_under_the_middleware.locals.charge"
    ]


def test_trace_middlewares_environment_variable(lam, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_MIDDLEWARES", "true")
    tracer = Tracer()

    @lambda_handler_decorator
    def passthrough(handler, event, context):
        return handler(event, context)

    @tracer.capture_lambda_handler
    @passthrough
    def lambda_handler(event, context):
        return "ok"

    assert lam.invoke(lambda_handler) == "ok"
    (root,) = lam.trees(1)
    assert root.child_names() == ["## test_trace_middlewares_environment_variable.locals.passthrough"]


def test_an_exception_is_recorded_on_the_middleware_and_passes_through(lam, caplog):
    tracer = Tracer()
    error = KeyError("missing")

    @lambda_handler_decorator(trace_execution=True)
    def validate(handler, event, context):
        raise error

    @tracer.capture_lambda_handler
    @validate
    def lambda_handler(event, context):
        return "never"

    with pytest.raises(KeyError) as raised:
        lam.invoke(lambda_handler)
    assert raised.value is error
    (root,) = lam.trees(1)
    (middleware,) = root.children
    assert middleware.fault and middleware.cause["exceptions"][0]["type"] == "KeyError"
    assert root.fault and root.cause == middleware.cause["exceptions"][0]["id"]
    assert "Caught exception in" in caplog.text


def test_tracing_off_outside_lambda(monkeypatch, caplog):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    Tracer._reset_config()

    @lambda_handler_decorator(trace_execution=True)
    def passthrough(handler, event, context):
        return handler(event, context)

    @passthrough
    def lambda_handler(event, context):
        return "ok"

    try:
        assert lambda_handler({}, None) == "ok"
        # Traced, it would have found no segment to record under and said so.
        assert [r.getMessage() for r in caplog.records if r.name == "oxray"] == []
    finally:
        Tracer._reset_config()


def test_only_functions_can_be_decorated():
    @lambda_handler_decorator
    def passthrough(handler, event, context):
        return handler(event, context)

    with pytest.raises(MiddlewareInvalidArgumentError):
        passthrough(functools.partial(lambda event, context: None))
