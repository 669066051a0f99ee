"""Environment variables read by the Python layer (the core reads the AWS_XRAY_* ones)."""

import os

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Optional
_TRUE = {"1", "y", "yes", "t", "true", "on"}
_FALSE = {"0", "n", "no", "f", "false", "off"}


def flag(name: str, default: bool) -> bool:
    """strtobool of ``name``. An unrecognised value is logged and the default kept
    (Powertools raises ValueError here; tracing configuration must not break the function)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    from ._log import warn

    warn(f"{name}={raw!r} is not a boolean (true/false, 1/0, yes/no, on/off); using {default}")
    return default


def text(name: str) -> "Optional[str]":
    value = os.environ.get(name)
    return value if value else None


def in_lambda() -> bool:
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


#: Set once a server middleware (``oxray.middleware``) is made: segments then begin per
#: request, so being outside Lambda no longer turns tracing off.
server_mode = False


def tracing_disabled_explicitly() -> bool:
    """POWERTOOLS_TRACE_DISABLED=true, SAM local or Chalice local."""
    if flag("POWERTOOLS_TRACE_DISABLED", False):
        return True
    return bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))


def tracing_disabled_by_environment() -> bool:
    """Powertools' auto-disable rule: not in Lambda, SAM local, Chalice local, or
    POWERTOOLS_TRACE_DISABLED=true. Outside Lambda, a server middleware turns tracing on."""
    if tracing_disabled_explicitly():
        return True
    return not in_lambda() and not server_mode
