"""Which entity is current: a ``contextvars.ContextVar``.

Each asyncio task runs in a copy of its creator's context, so concurrent traced coroutines
(``asyncio.gather``, ``TaskGroup``) get the right parent whatever order they finish in.
A new thread starts with an empty context: run its target in a copy of the caller's
(``contextvars.copy_context().run``, :func:`bind`, ``asyncio.to_thread``, or
:class:`ContextThreadPoolExecutor`) and its subsegments attach where the caller was.
"""

try:  # the C module behind contextvars.py: the same objects, one import fewer at start-up
    from _contextvars import ContextVar, copy_context
except ImportError:  # pragma: no cover - interpreters without it
    from contextvars import ContextVar, copy_context

from . import _core

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Optional, TypeVar

    T = TypeVar("T")

_current: "ContextVar[Optional[_core.Entity]]" = ContextVar("oxray_current_entity", default=None)


def current() -> "Optional[_core.Entity]":
    """The innermost open entity in this context (None outside any)."""
    return _current.get()


def bind(fn: "Callable[..., T]") -> "Callable[..., T]":
    """``fn`` made to run, wherever it is called (another thread, a callback), in a copy of
    the context current now, so what it traces attaches to the entity current now."""
    captured = copy_context()

    def run(*args: "Any", **kwargs: "Any") -> "T":
        return captured.copy().run(fn, *args, **kwargs)

    return run


def __getattr__(name: str) -> "Any":
    if name == "ContextThreadPoolExecutor":
        return _executor_class()
    raise AttributeError(f"module 'oxray.context' has no attribute {name!r}")


_EXECUTOR: "Any" = None


def _executor_class() -> "Any":
    """``concurrent.futures.ThreadPoolExecutor`` whose tasks run in a copy of the submitter's
    context (built on first use: concurrent.futures is not imported with oxray)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor

        class ContextThreadPoolExecutor(ThreadPoolExecutor):
            def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
                return super().submit(copy_context().run, fn, *args, **kwargs)

        ContextThreadPoolExecutor.__module__ = __name__
        _EXECUTOR = ContextThreadPoolExecutor
    return _EXECUTOR
