"""ASGI (3.0) middleware: a segment per HTTP request; websocket and lifespan pass through.

The segment's end time is when the last body message went to the server (the response is
finished); the document is sent when the application returns, so an exception it raises
after responding (Starlette's error middleware re-raises after sending the 500) is still
recorded.
"""

from __future__ import annotations

from .. import _core
from ..context import _current
from . import _request

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Awaitable, Callable, Optional

_reset = _current.reset
_fail = _request.fail


class XRayASGIMiddleware(_core.ServerMiddleware):
    """``XRayASGIMiddleware(app, name=None, sampling_rules=None)`` traces every HTTP request
    of the ASGI application ``app`` (usable with Starlette/FastAPI ``app.add_middleware``).
    Arguments as for :class:`oxray.middleware.XRayWSGIMiddleware`."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], name: Optional[str] = None, sampling_rules: Any = None
    ) -> None:
        self._setup(app, name or None, _request.env_name(), _request.STATE)
        _request.setup(sampling_rules)

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        # Native, in this coroutine (so in the task's context): unless tracing is off or the
        # scope is not HTTP, begins the segment (a failure is logged: the request then runs
        # untraced) and makes it current.
        begun = self._begin_asgi(scope, send)
        if begun is None:
            await self.app(scope, receive, send)
            return
        exchange, token = begun
        try:
            # The exchange is the app's send: it observes each message and returns the
            # server's send(message) awaitable.
            await self.app(scope, receive, exchange)
        except BaseException as exc:
            _fail(exchange, exc)
            raise
        finally:
            _reset(token)
        exchange.finish()
