"""WSGI (PEP 3333) middleware: a segment per request.

The segment ends when the server closes the response (``close()``, which PEP 3333 servers
always call), so a streamed body is inside it; the application's iterable is consumed only
by the server, one item at a time, with the request's segment current while the application
produces each item. A list body is complete when the application returns: the segment ends
then; so does it for a ``wsgi.file_wrapper`` body, which is returned as it is so that the
server can still send the file its own fast way.
"""

from __future__ import annotations

from .. import _capture, _errors, _runtime
from ..context import _current
from ..recorder import xray_recorder
from ..tracer import Tracer
from . import _request

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Iterable, Optional

    from .. import _core

_set = _current.set
_reset = _current.reset


class XRayWSGIMiddleware:
    """``XRayWSGIMiddleware(app, name=None, sampling_rules=None)`` traces every request of the
    WSGI application ``app``. ``name``: the segment name (default: see
    :class:`oxray.middleware._request.Naming`); ``sampling_rules``: a local rule file (dict,
    JSON text or path) loaded for the process (:func:`oxray.sampling.load_rules`)."""

    def __init__(self, app: Callable[..., Any], name: Optional[str] = None, sampling_rules: Any = None) -> None:
        self.app = app
        self._name, self._env_name = name or None, _request.env_name()
        _request.setup(sampling_rules)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not _capture._ENABLED:
            return self.app(environ, start_response)
        try:
            rec = _runtime._recorder or _runtime.recorder()
            name = self._name or xray_recorder.service or Tracer._config["service"] or self._env_name
            exchange = rec.begin_wsgi(name, environ, start_response)
        except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
            _request.begin_failed(problem)
            exchange = None
        if exchange is None:
            return self.app(environ, start_response)
        segment = exchange.segment
        token = _set(segment)
        try:
            # The exchange is the app's start_response: it adds our header and calls the server's.
            result = self.app(environ, exchange)
        except BaseException as exc:
            _request.fail(exchange, exc)
            raise
        finally:
            _reset(token)
        if type(result) is list:  # complete: the segment ends now
            _end_now(exchange, result)
            return result
        if type(result) is environ.get("wsgi.file_wrapper"):
            # Left as it is, so the server can still send the file its fast way (sendfile);
            # the segment ends now.
            _end_now(exchange, None)
            return result
        return _Body(result, exchange, segment)


def _end_now(exchange: _core.Exchange, body: Optional[list]) -> None:
    if exchange.finish(False, 0, body):
        _runtime.flush(on_caller=True)
    if _errors._recorded:
        _errors.release_trace(exchange.segment.trace_id)


class _Body:
    """The application's response iterable, passed through item by item; ``close()`` closes
    the application's iterable and ends the segment."""

    __slots__ = ("_iterable", "_iterator", "_exchange", "_segment", "_sent")

    def __init__(self, iterable: Iterable[bytes], exchange: _core.Exchange, segment: _core.Entity) -> None:
        self._iterable = iterable
        self._iterator: Any = None
        self._exchange = exchange
        self._segment = segment
        self._sent = 0

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        token = _set(self._segment)
        try:
            iterator = self._iterator
            if iterator is None:
                iterator = self._iterator = iter(self._iterable)
            chunk = next(iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            _request.fail(self._exchange, exc, self._sent)
            raise
        finally:
            _reset(token)
        try:
            self._sent += len(chunk)
        except TypeError:
            pass
        return chunk

    def close(self) -> None:
        token = _set(self._segment)
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            _request.fail(self._exchange, exc, self._sent)
            raise
        finally:
            _reset(token)
        _request.end(self._exchange, self._sent)
