"""WSGI (PEP 3333) middleware: a segment per request.

The segment ends when the server closes the response (``close()``, which PEP 3333 servers
always call), so a streamed body is inside it; the application's iterable is consumed only
by the server, one item at a time, with the request's segment current while the application
produces each item. A list body is complete when the application returns: the segment ends
then; so does it for a ``wsgi.file_wrapper`` body, which is returned as it is so that the
server can still send the file its own fast way.
"""

from __future__ import annotations

from .. import _core
from . import _request

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Iterable, Optional


class XRayWSGIMiddleware(_core.WsgiMiddleware):
    """``XRayWSGIMiddleware(app, name=None, sampling_rules=None)`` traces every request of the
    WSGI application ``app``. ``name``: the segment name (default: see
    :func:`oxray.middleware._request.env_name`); ``sampling_rules``: a local rule file (dict,
    JSON text or path) loaded for the process (:func:`oxray.sampling.load_rules`)."""

    def __init__(self, app: Callable[..., Any], name: Optional[str] = None, sampling_rules: Any = None) -> None:
        self._setup(app, name or None, _request.env_name(), _request.STATE)
        _request.setup(sampling_rules)

    if TYPE_CHECKING:
        # Native (the base class's, bindings/python/src/server/middleware.rs), one call per
        # request: unless tracing is off, begins the request's segment (a failure is logged
        # and the request runs untraced), calls the application with the segment current and
        # the exchange as its start_response, and returns what Exchange.respond makes of the
        # result; an exception of the application is recorded and raised on unchanged.
        def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]: ...
