"""ASGI (3.0) middleware: a segment per HTTP request; websocket and lifespan pass through.

The segment's end time is when the last body message went to the server (the response is
finished); the document is sent when the application returns, so an exception it raises
after responding (Starlette's error middleware re-raises after sending the 500) is still
recorded.
"""

from __future__ import annotations

from .. import _capture, _runtime
from ..context import _current
from ..recorder import xray_recorder
from ..tracer import Tracer
from . import _request

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Awaitable, Callable, Optional

_set = _current.set
_reset = _current.reset
_HOOKS = _request.HOOKS


class XRayASGIMiddleware:
    """``XRayASGIMiddleware(app, name=None, sampling_rules=None)`` traces every HTTP request
    of the ASGI application ``app`` (usable with Starlette/FastAPI ``app.add_middleware``).
    Arguments as for :class:`oxray.middleware.XRayWSGIMiddleware`."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], name: Optional[str] = None, sampling_rules: Any = None
    ) -> None:
        self.app = app
        self._name, self._env_name = name or None, _request.env_name()
        _request.setup(sampling_rules)

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if not _capture._ENABLED or scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            rec = _runtime._recorder or _runtime.recorder()
            name = self._name or xray_recorder.service or Tracer._config["service"] or self._env_name
            exchange = rec.begin_asgi(name, scope, send, _current.get(), _HOOKS)
        except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
            _request.begin_failed(problem)
            exchange = None
        if exchange is None:
            await self.app(scope, receive, send)
            return
        token = _set(exchange.segment)
        try:
            # The exchange is the app's send: it observes each message and returns the
            # server's send(message) awaitable.
            await self.app(scope, receive, exchange)
        except BaseException as exc:
            _request.fail(exchange, exc)
            raise
        finally:
            _reset(token)
        exchange.finish()
