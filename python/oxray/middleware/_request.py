"""What the WSGI and ASGI middleware share: set-up, the segment name, and the end of a request.

The request itself (reading the environ/scope, sampling, the segment, the response header,
the status and length) is one ``oxray._core.Exchange``; see bindings/python/src/server.rs.
"""

from __future__ import annotations

import os

from .. import _env, _errors, _runtime
from .._log import warn
from ..recorder import xray_recorder
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


class Naming:
    """The segment name: the middleware's ``name``, else ``xray_recorder.configure(service=)``,
    else the Tracer's service (``POWERTOOLS_SERVICE_NAME``); None lets the core use the Host.
    ``AWS_XRAY_TRACING_NAME`` wins over all of them (applied by the core)."""

    __slots__ = ("explicit", "from_env")

    def __init__(self, explicit: Optional[str]) -> None:
        self.explicit = explicit or None
        self.from_env = os.environ.get("POWERTOOLS_SERVICE_NAME") or None

    def __call__(self) -> Optional[str]:
        return self.explicit or xray_recorder.service or Tracer._config["service"] or self.from_env


def begin_failed(problem: BaseException) -> None:
    warn(f"request not traced: {problem!r}")


def done(exchange: _core.Exchange) -> None:
    """The request is over: forget its exceptions; in Lambda, send now (the process may be
    frozen next)."""
    if _errors._recorded:
        _errors.release_trace(exchange.segment.trace_id)
    if exchange.lambda_mode:
        _runtime.flush(on_caller=True)


def fail(exchange: _core.Exchange, exc: BaseException) -> None:
    """The application raised ``exc``: an Exception is recorded as the fault and its cause
    (a 500 if no response started); anything else (cancellation, exit) just ends the segment.
    Never raises."""
    try:
        if isinstance(exc, Exception):
            _errors.record(exchange.segment, exc)
            exchange.finish(True)
        else:
            exchange.finish(False)
        done(exchange)
    except Exception as problem:  # noqa: BLE001 - tracing must never raise into the app
        warn(f"could not record the request's exception: {problem!r}")
