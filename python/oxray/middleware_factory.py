"""``oxray.middleware_factory``: Powertools' ``lambda_handler_decorator``, with
``trace_execution`` on oxray.

A middleware is a function ``(handler, event, context, **options)`` that calls
``handler(event, context)`` and returns the response; the factory turns it into a handler
decorator, usable bare (``@my_middleware``) or with options (``@my_middleware(option=1)``).
With ``trace_execution=True`` (or ``POWERTOOLS_TRACE_MIDDLEWARES=true``) each run of the
middleware is the subsegment ``## <middleware qualname>`` of the current one, with the
handler's own subsegments inside it; an exception it raises is recorded there (fault, cause)
and passes through unchanged. Tracing follows the same rules as a ``Tracer(auto_patch=False)``:
off outside Lambda, under SAM/Chalice local, or when disabled.
"""

from . import _capture, _core, _env
from .tracer import Tracer

# Imported at start-up by the functions that use it: annotations are quoted rather than
# deferred by `from __future__ import annotations`, which would import __future__.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Optional

__all__ = ["lambda_handler_decorator", "MiddlewareInvalidArgumentError"]

_TRACE_ENV = "POWERTOOLS_TRACE_MIDDLEWARES"


class MiddlewareInvalidArgumentError(Exception):
    """The object a middleware decorates is not a function (as in Powertools)."""


def lambda_handler_decorator(
    decorator: "Optional[Callable[..., Any]]" = None, trace_execution: "Optional[bool]" = None
) -> "Any":
    """Makes a handler decorator of ``decorator(handler, event, context, **options)``.
    ``trace_execution`` (default: ``POWERTOOLS_TRACE_MIDDLEWARES``, false) traces each run of
    the middleware as subsegment ``## <decorator.__qualname__>``."""
    if decorator is None:
        return lambda fn: lambda_handler_decorator(fn, trace_execution)
    traced = _env.flag(_TRACE_ENV, False) if trace_execution is None else bool(trace_execution)

    def final_decorator(handler: "Optional[Callable[..., Any]]" = None, **options: "Any") -> "Any":
        if handler is None:
            return lambda fn: final_decorator(fn, **options)
        if not _is_function(handler):
            raise MiddlewareInvalidArgumentError(f"Only functions are allowed as handlers; got {handler!r}")
        run = _traced_run(decorator) if traced else decorator

        def wrapper(event: "Any", context: "Any", **handler_kwargs: "Any") -> "Any":
            # handler_kwargs are not passed on, as in Powertools: the middleware calls the
            # handler with (event, context).
            try:
                return run(handler, event, context, **options)
            except Exception:
                _log_failure(decorator)
                raise

        return _capture.copy_metadata(wrapper, handler)

    return _capture.copy_metadata(final_decorator, decorator)


def _traced_run(decorator: "Callable[..., Any]") -> "Callable[..., Any]":
    """``decorator`` traced as ``## <its qualname>``: no response or error metadata, as the
    X-Ray SDK's ``in_subsegment`` that Powertools uses records none."""
    tracer = Tracer(auto_patch=False)  # applies the auto-disable rules, as Powertools does
    qualname = getattr(decorator, "__qualname__", None) or getattr(decorator, "__name__", "middleware")
    name = _core.sanitize_name(qualname)
    site = _core.Site("## " + name, name, tracer.service, False, False)
    return _capture.wrap(decorator, site)


def _is_function(fn: "Any") -> bool:
    """inspect.isfunction (without importing inspect): a Python function, not a class, a
    partial or another callable object."""
    import types

    return isinstance(fn, types.FunctionType)


def _log_failure(decorator: "Callable[..., Any]") -> None:
    """Powertools logs an exception escaping a middleware before re-raising it."""
    try:
        import logging

        name = getattr(decorator, "__qualname__", repr(decorator))
        logging.getLogger(__name__).exception(f"Caught exception in {name}")
    except Exception:  # noqa: BLE001 - logging must not hide the user's exception
        pass
