"""What the WSGI and ASGI middleware share: set-up, the segment name, and the end of a request.

The request itself (reading the environ/scope, sampling, the segment, the response header,
the status and length) is one ``oxray._core.Exchange``; see bindings/python/src/server/.
"""

from __future__ import annotations

import os

from .. import _env, _errors, _runtime
from .._log import warn
from ..tracer import Tracer

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Optional

    from .. import _core


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
    warn(f"request not traced: {problem!r}")


def end(exchange: _core.Exchange, sent: int = 0) -> None:
    """The request is over: the response is recorded and the segment ended (once); its
    exceptions are forgotten; in Lambda, what it traced is sent now (the process may be
    frozen next). ``sent``: body bytes counted by the caller."""
    if exchange.finish(False, sent):
        _runtime.flush(on_caller=True)
    if _errors._recorded:
        _errors.release_trace(exchange.segment.trace_id)


def fail(exchange: _core.Exchange, exc: BaseException, sent: int = 0) -> None:
    """The application raised ``exc``: an Exception is recorded as the fault and its cause
    (a 500 if no response started); anything else (cancellation, exit) just ends the segment.
    Never raises."""
    try:
        failed = isinstance(exc, Exception)
        if failed:
            _errors.record(exchange.segment, exc)
        if exchange.finish(failed, sent):
            _runtime.flush(on_caller=True)
        if _errors._recorded:
            _errors.release_trace(exchange.segment.trace_id)
    except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
        warn(f"could not record the request's exception: {problem!r}")
