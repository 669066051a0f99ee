"""WSGI (PEP 3333) middleware: a segment per request.

The segment ends when the server closes the response (``close()``, which PEP 3333 servers
always call), so a streamed body is inside it; the application's iterable is consumed only
by the server, one item at a time, with the request's segment current while the application
produces each item. A list body is complete when the application returns: the segment ends
then; so does it for a ``wsgi.file_wrapper`` body, which is returned as it is so that the
server can still send the file its own fast way.
"""

from __future__ import annotations

from .. import _capture, _runtime
from ..context import _current
from ..recorder import xray_recorder
from ..tracer import Tracer
from . import _request

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Iterable, Optional

_set = _current.set
_reset = _current.reset
_HOOKS = _request.HOOKS


class XRayWSGIMiddleware:
    """``XRayWSGIMiddleware(app, name=None, sampling_rules=None)`` traces every request of the
    WSGI application ``app``. ``name``: the segment name (default: see
    :func:`oxray.middleware._request.env_name`); ``sampling_rules``: a local rule file (dict,
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
            exchange = rec.begin_wsgi(name, environ, start_response, _current.get(), _HOOKS)
        except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
            _request.begin_failed(problem)
            exchange = None
        if exchange is None:
            return self.app(environ, start_response)
        token = _set(exchange.segment)
        try:
            # The exchange is the app's start_response: it adds our header and calls the
            # server's. respond() ends the request now for a list or file_wrapper body, else
            # wraps the body to make its items in a copy of this context (the segment current).
            return exchange.respond(self.app(environ, exchange), environ)
        except BaseException as exc:
            _request.fail(exchange, exc)
            raise
        finally:
            _reset(token)
