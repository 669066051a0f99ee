"""The wrappers behind ``capture_method``, ``capture_lambda_handler`` and
``xray_recorder.capture``: one per kind of callable.

Hot path, per call: is tracing on, which entity is current, is it sampled; then one native
call to begin the subsegment and one to record the response and end it. When tracing is off
or the trace is not sampled, the wrapped function is called straight away. Tracing problems
are logged (logger ``oxray``) and counted; the function's own result or exception always
passes through unchanged.
"""

import os

from . import _core, _runtime
from .context import _current

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Optional

#: Process-wide switch. Off once any Tracer is disabled (as in Powertools).
_ENABLED = True

_get = _current.get
_set = _current.set
_reset = _current.reset

_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


#: Set by oxray.testing.capture_traces: tracing stays on whatever Tracers are made inside.
_FORCED = False


def set_enabled(on: bool) -> None:
    global _ENABLED
    _ENABLED = bool(on) or _FORCED


def force(on: bool) -> bool:
    """Forces tracing on (tests); returns the previous forcing."""
    global _FORCED, _ENABLED
    previous = _FORCED
    _FORCED = bool(on)
    if on:
        _ENABLED = True
    return previous


def enabled() -> bool:
    return _ENABLED


def root() -> "Optional[_core.Entity]":
    """The entity to use when none is current: the Lambda facade of this invocation in
    Lambda, otherwise none (context missing, handled per AWS_XRAY_CONTEXT_MISSING)."""
    rec = _runtime._recorder
    if rec is None:
        rec = _runtime.recorder()
    if _runtime._lambda_mode:
        return rec.lambda_facade()
    rec.context_missing("no segment is open; call xray_recorder.begin_segment() first")
    return None


def parent() -> "Optional[_core.Entity]":
    """The current entity, or the root; None if there is nowhere to record."""
    entity = _get()
    if entity is None:
        entity = root()
    return entity


def _fail(site: "_core.Site", sub: "_core.Entity", exc: "BaseException") -> None:
    """Error metadata (for Exceptions), cause and end. Never raises."""
    try:
        from . import _errors

        if isinstance(exc, Exception):
            site.error_metadata(sub, exc)
        _errors.record(sub, exc)
        sub.end()
    except Exception as problem:  # noqa: BLE001
        from ._log import warn  # imported only when there is a problem to log

        warn(f"could not record an exception on {site.name!r}: {problem!r}")


_core.install_call_hooks(_current, root, _fail)


def _flags(fn: "Any") -> int:
    code = getattr(fn, "__code__", None)
    return getattr(code, "co_flags", 0) if code is not None else 0


def is_coroutine_function(fn: "Any") -> bool:
    return bool(_flags(fn) & _CO_COROUTINE)


def _is_contextmanager(fn: "Any", inner_flag: int) -> bool:
    """``fn`` was made by ``@contextlib.(async)contextmanager`` around a generator function."""
    inner = getattr(fn, "__wrapped__", None)
    code = getattr(fn, "__code__", None)
    return (
        inner is not None
        and bool(_flags(inner) & inner_flag)
        and code is not None
        and os.path.basename(code.co_filename) == "contextlib.py"
    )


def copy_metadata(wrapper: "Any", fn: "Any") -> "Any":
    """functools.wraps without importing functools."""
    for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"):
        try:
            setattr(wrapper, attr, getattr(fn, attr))
        except AttributeError:
            pass
    try:
        wrapper.__dict__.update(getattr(fn, "__dict__", {}))
    except Exception:  # noqa: BLE001
        pass
    wrapper.__wrapped__ = fn
    return wrapper


def wrap(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    """The traced version of ``fn``, chosen once by what kind of callable it is."""
    flags = _flags(fn)
    if flags & _CO_COROUTINE:
        wrapper = _async(fn, site)
    elif flags & _CO_ASYNC_GENERATOR:
        wrapper = _async_generator(fn, site)
    elif flags & _CO_GENERATOR:
        wrapper = _generator(fn, site)
    elif _is_contextmanager(fn, _CO_GENERATOR):
        wrapper = _context_manager(fn, site)
    elif _is_contextmanager(fn, _CO_ASYNC_GENERATOR):
        wrapper = _async_context_manager(fn, site)
    else:
        wrapper = _sync(fn, site)
    return copy_metadata(wrapper, fn)


def _sync(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    # Site.call does the whole traced call natively: find the parent (the current entity or
    # root()), begin, make the subsegment current, call, reset, then finish or _fail.
    call = site.call

    def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        if not _ENABLED:
            return fn(*args, **kwargs)
        return call(fn, args, kwargs)

    return wrapper


def _async(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    async def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        if not _ENABLED:
            return await fn(*args, **kwargs)
        parent = _get()
        if parent is None:
            parent = root()
            if parent is None:
                return await fn(*args, **kwargs)
        sub = site.begin(parent)
        if sub is None:
            return await fn(*args, **kwargs)
        token = _set(sub)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _fail(site, sub, exc)
            raise
        finally:
            _reset(token)
        site.finish(sub, result)
        return result

    return wrapper


def _traced_parent() -> "Optional[_core.Entity]":
    """The parent to record under, or None when this call is not traced."""
    if not _ENABLED:
        return None
    entity = parent()
    if entity is None or not entity.sampled:
        return None
    return entity


def _generator(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    """The subsegment spans the whole iteration; the response is the generator's return
    value. The subsegment is current only while the generator body runs, not while it is
    suspended at a ``yield``, so what the consumer traces between items is not its child.
    A generator closed early (``GeneratorExit``) ends normally: that is not a fault."""

    def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        parent = _traced_parent()
        sub = site.begin(parent) if parent is not None else None
        if sub is None:
            return (yield from fn(*args, **kwargs))
        token = _set(sub)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            _fail(site, sub, exc)
            raise
        finally:
            _reset(token)
        step: Callable[[Any], Any] = gen.send
        arg: Any = None
        while True:
            token = _set(sub)
            try:
                item = step(arg)
            except StopIteration as stop:
                site.finish(sub, stop.value)
                return stop.value
            except BaseException as exc:
                _fail(site, sub, exc)
                raise
            finally:
                _reset(token)
            try:
                arg = yield item
                step = gen.send
            except GeneratorExit:
                token = _set(sub)
                try:
                    gen.close()
                except BaseException as exc:
                    _fail(site, sub, exc)
                    raise
                finally:
                    _reset(token)
                sub.end()
                raise
            except BaseException as exc:
                step, arg = gen.throw, exc

    return wrapper


def _async_generator(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    """As for generators; async generators have no return value, so no response."""

    async def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        parent = _traced_parent()
        sub = site.begin(parent) if parent is not None else None
        agen = fn(*args, **kwargs)
        step: Callable[[Any], Any] = agen.asend
        arg: Any = None
        while True:
            token = _set(sub) if sub is not None else None
            try:
                item = await step(arg)
            except StopAsyncIteration:
                if sub is not None:
                    sub.end()
                return
            except BaseException as exc:
                if sub is not None:
                    _fail(site, sub, exc)
                raise
            finally:
                if token is not None:
                    _reset(token)
            try:
                arg = yield item
                step = agen.asend
            except GeneratorExit:
                await agen.aclose()
                if sub is not None:
                    sub.end()
                raise
            except BaseException as exc:
                step, arg = agen.athrow, exc

    return wrapper


class _TracedContextManager:
    """``@capture_method`` outside ``@contextmanager``: the subsegment spans the ``with``
    block and the value given to ``as`` is the response."""

    __slots__ = ("_cm", "_site", "_sub", "_token")

    def __init__(self, cm: "Any", site: "_core.Site") -> None:
        self._cm = cm
        self._site = site
        self._sub: Optional[_core.Entity] = None
        self._token: Any = None

    def _open(self) -> None:
        parent = _traced_parent()
        if parent is not None:
            self._sub = self._site.begin(parent)
            if self._sub is not None:
                self._token = _set(self._sub)

    def _close(self, exc: "Optional[BaseException]") -> None:
        sub, token = self._sub, self._token
        self._sub = self._token = None
        if token is not None:
            try:
                _reset(token)
            except ValueError:
                pass
        if sub is not None:
            if exc is not None:
                _fail(self._site, sub, exc)
            else:
                sub.end()

    def __enter__(self) -> "Any":
        self._open()
        try:
            value = self._cm.__enter__()
        except BaseException as exc:
            self._close(exc)
            raise
        if self._sub is not None:
            self._site.respond(self._sub, value)
        return value

    def __exit__(self, et: "Any", ev: "Any", tb: "Any") -> "Any":
        try:
            suppress = self._cm.__exit__(et, ev, tb)
        except BaseException as exc:
            self._close(exc)
            raise
        self._close(ev if ev is not None and not suppress else None)
        return suppress

    def _recreated(self) -> "Any":
        """A fresh copy of the wrapped manager, for one call of a function it decorates
        (contextlib's managers are single-use; ``_recreate_cm`` is how their own decorator
        form gets a new one per call)."""
        recreate = getattr(self._cm, "_recreate_cm", None)
        if recreate is None:
            raise TypeError(f"{type(self._cm).__name__!r} object is not callable")
        return recreate()

    def __call__(self, func: "Callable[..., Any]") -> "Callable[..., Any]":
        """``@cm()`` as a decorator, as ``@contextmanager`` managers allow: each call of
        ``func`` runs inside a fresh traced ``with`` block."""
        self._recreated()  # refuse a manager that has no decorator form, now
        import functools

        @functools.wraps(func)
        def inner(*args: "Any", **kwargs: "Any") -> "Any":
            with type(self)(self._recreated(), self._site):
                return func(*args, **kwargs)

        return inner


class _TracedAsyncContextManager(_TracedContextManager):
    __slots__ = ()

    def __call__(self, func: "Callable[..., Any]") -> "Callable[..., Any]":
        """``@cm()`` on a coroutine function, as ``@asynccontextmanager`` managers allow."""
        self._recreated()
        import functools

        @functools.wraps(func)
        async def inner(*args: "Any", **kwargs: "Any") -> "Any":
            async with type(self)(self._recreated(), self._site):
                return await func(*args, **kwargs)

        return inner

    async def __aenter__(self) -> "Any":
        self._open()
        try:
            value = await self._cm.__aenter__()
        except BaseException as exc:
            self._close(exc)
            raise
        if self._sub is not None:
            self._site.respond(self._sub, value)
        return value

    async def __aexit__(self, et: "Any", ev: "Any", tb: "Any") -> "Any":
        try:
            suppress = await self._cm.__aexit__(et, ev, tb)
        except BaseException as exc:
            self._close(exc)
            raise
        self._close(ev if ev is not None and not suppress else None)
        return suppress


def _context_manager(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        return _TracedContextManager(fn(*args, **kwargs), site)

    return wrapper


def _async_context_manager(fn: "Callable[..., Any]", site: "_core.Site") -> "Callable[..., Any]":
    def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        return _TracedAsyncContextManager(fn(*args, **kwargs), site)

    return wrapper
