"""The wrapper behind ``capture_lambda_handler``: subsegment ``## <handler>``, ColdStart and
Service annotations, response/error metadata, and a flush before returning or raising, so
nothing is left in the send queue when Lambda freezes the process."""

import os
import sys

from . import _capture, _core, _runtime
from ._capture import _get, _reset, _set

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable

_cold_start = True


def _take_cold_start() -> bool:
    """True for the first decorated handler of the process to complete, unless provisioned
    concurrency. Taken at completion, as Powertools takes it: with two nested decorated
    handlers the inner one, which completes first, carries ``ColdStart: true``."""
    global _cold_start
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
        _cold_start = False
        return False
    cold = _cold_start
    _cold_start = False
    return cold


def reset_cold_start() -> None:
    global _cold_start
    _cold_start = True


def _annotate(sub: "_core.Entity", service: str) -> None:
    sub.put_annotation("ColdStart", _take_cold_start())
    if service:
        sub.put_annotation("Service", service)


def _finish_invocation() -> None:
    # No exception outlives its invocation. oxray._errors is imported only once an exception
    # was recorded: until then there is nothing to forget (and no import at start-up).
    errors = sys.modules.get("oxray._errors")
    if errors is not None:
        errors.forget()
    _runtime.flush(on_caller=True)


def _ok(site: "_core.Site", sub: "_core.Entity", result: "Any", service: str) -> None:
    try:
        _annotate(sub, service)
        site.finish(sub, result)
    except Exception as problem:  # noqa: BLE001
        from ._log import warn  # imported only when there is a problem to log

        warn(f"could not record the handler response: {problem!r}")
    _finish_invocation()


def _failed(site: "_core.Site", sub: "_core.Entity", exc: "BaseException", service: str) -> None:
    try:
        _annotate(sub, service)
    except Exception:  # noqa: BLE001
        pass
    _capture._fail(site, sub, exc)
    _finish_invocation()


def _invocation_parent() -> "Any":
    parent = _get()
    if parent is None:
        parent = _capture.root()
    return parent


def wrap_handler(fn: "Callable[..., Any]", site: "_core.Site", service: str) -> "Callable[..., Any]":
    if _capture.is_coroutine_function(fn):
        return _capture.copy_metadata(_async_handler(fn, site, service), fn)
    return _capture.copy_metadata(_sync_handler(fn, site, service), fn)


def _sync_handler(fn: "Callable[..., Any]", site: "_core.Site", service: str) -> "Callable[..., Any]":
    def handler(event: "Any", context: "Any", **kwargs: "Any") -> "Any":
        if not _capture._ENABLED:
            return fn(event, context, **kwargs)
        parent = _invocation_parent()
        sub = site.begin(parent) if parent is not None else None
        if sub is None:
            # Nested calls see the unsampled parent at once, without looking it up.
            token = _set(parent) if parent is not None else None
            try:
                return fn(event, context, **kwargs)
            finally:
                if token is not None:
                    _reset(token)
                _take_cold_start()
                _finish_invocation()
        token = _set(sub)
        try:
            result = fn(event, context, **kwargs)
        except BaseException as exc:
            _reset(token)
            _failed(site, sub, exc, service)
            raise
        _reset(token)
        _ok(site, sub, result, service)
        return result

    return handler


def _async_handler(fn: "Callable[..., Any]", site: "_core.Site", service: str) -> "Callable[..., Any]":
    async def handler(event: "Any", context: "Any", **kwargs: "Any") -> "Any":
        if not _capture._ENABLED:
            return await fn(event, context, **kwargs)
        parent = _invocation_parent()
        sub = site.begin(parent) if parent is not None else None
        if sub is None:
            token = _set(parent) if parent is not None else None
            try:
                return await fn(event, context, **kwargs)
            finally:
                if token is not None:
                    _reset(token)
                _take_cold_start()
                _finish_invocation()
        token = _set(sub)
        try:
            result = await fn(event, context, **kwargs)
        except BaseException as exc:
            _reset(token)
            _failed(site, sub, exc, service)
            raise
        _reset(token)
        _ok(site, sub, result, service)
        return result

    return handler
