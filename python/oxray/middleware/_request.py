"""What the WSGI and ASGI middleware share: set-up, the segment name, and the rare ends of a
request (an exception, Lambda, remembered exceptions), as hooks for the native side.

The request itself (reading the environ/scope, sampling, the segment, the response header,
the status and length, the end) is one ``oxray._core.Exchange``; for WSGI the whole request
path (the enabled check, the recorder and the segment name, the segment made current) is
native too: ``oxray._core.WsgiMiddleware``, the base of ``XRayWSGIMiddleware``. See
bindings/python/src/server/.
"""

from __future__ import annotations

import os

from .. import _capture, _core, _env, _errors, _runtime
from .._log import warn
from ..context import _current
from ..recorder import xray_recorder
from ..tracer import Tracer

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Optional


def setup(sampling_rules: Any) -> None:
    """Loads the rules if given (invalid rules raise ValueError: this is start-up, not a
    request) and turns server mode on."""
    if sampling_rules is not None:
        from .. import sampling

        sampling.load_rules(sampling_rules)
    _env.server_mode = True
    Tracer._enter_server_mode()
    from . import _frameworks

    _frameworks.connect()


def env_name() -> Optional[str]:
    """POWERTOOLS_SERVICE_NAME, for a segment name when no Tracer gave a service. The name
    is chosen per request: the middleware's ``name``, else ``xray_recorder.configure(service=)``,
    else the Tracer's service, else this; None lets the core use the Host.
    ``AWS_XRAY_TRACING_NAME`` wins over all of them (applied by the core)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or None


def begin_failed(problem: BaseException) -> None:
    """A request could not be traced (it runs untraced)."""
    warn(f"request not traced: {problem!r}")


def fail(exchange: _core.Exchange, exc: BaseException) -> None:
    """The application raised ``exc``: an Exception is recorded as the fault and its cause
    (a 500 if no response started); anything else (cancellation, exit) just ends the segment.
    Never raises."""
    try:
        failed = isinstance(exc, Exception)
        if failed:
            _errors.record(exchange.segment, exc)
        exchange.finish(failed)
    except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
        warn(f"could not record the request's exception: {problem!r}")


def after(exchange: _core.Exchange) -> None:
    """Called by the exchange once the request ended, only in Lambda (what it traced is sent
    now: the process may be frozen next) or while exceptions are remembered (the request's
    are forgotten). Never raises."""
    try:
        if exchange.lambda_mode:
            _runtime.flush(on_caller=True)
        if _errors._recorded:
            _errors.release_trace(exchange.segment.trace_id)
    except Exception as problem:  # noqa: BLE001 - called from native code, at the end of a request
        warn(f"could not end the request: {problem!r}")


#: Given to every exchange: the common end of a request runs no Python code.
HOOKS = _core.ServerHooks(fail, after, _errors._recorded)

#: What the native WSGI middleware reads per request: module globals through the modules' dicts
#: (``_capture._ENABLED``, ``_runtime._recorder``), the service names, the current-entity
#: variable, the hooks, and how a request that cannot be traced is logged.
STATE = _core.ServerState(vars(_capture), vars(_runtime), xray_recorder, Tracer, _current, HOOKS, begin_failed)
