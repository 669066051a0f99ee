"""Process-wide state: the recorder, fork safety and the flush at interpreter exit.

The recorder is made on first use (not at import) from the environment plus the overrides
given to ``xray_recorder.configure``.
"""

from __future__ import annotations

import atexit
import os

from . import _core

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Dict, Optional

_recorder: Optional[_core.Recorder] = None
#: The recorder's Lambda mode, read once per recorder (hot path).
_lambda_mode = False
_overrides: Dict[str, Any] = {}
_hooks_installed = False

#: Seconds a flush may wait for the sender (end of a Lambda invocation, exit).
FLUSH_TIMEOUT = 1.0


def recorder() -> _core.Recorder:
    rec = _recorder
    if rec is None:
        rec = _make()
    return rec


def _make() -> _core.Recorder:
    _install_hooks()
    config = None
    if _overrides:
        import json

        config = json.dumps(_overrides)
    try:
        rec = _core.Recorder(config)
    except ValueError as exc:
        rec = _core.Recorder(None)
        rec.warn(f"configuration ignored: {exc}")
    _set(rec)
    return rec


def _set(rec: Optional[_core.Recorder]) -> None:
    global _recorder, _lambda_mode
    _recorder = rec
    _lambda_mode = bool(rec is not None and rec.lambda_mode)


def reconfigure(**overrides: Any) -> None:
    """Replaces the recorder with one built with these core config keys (None removes a key).
    What the old recorder completed is flushed first."""
    for key, value in overrides.items():
        if value is None:
            _overrides.pop(key, None)
        else:
            _overrides[key] = value
    old = _recorder
    _set(None)
    if old is not None:
        old.flush(FLUSH_TIMEOUT)
    _make()


def swap(rec: Optional[_core.Recorder]) -> Optional[_core.Recorder]:
    """Installs ``rec`` (tests); returns the previous one."""
    previous = _recorder
    _set(rec)
    return previous


def flush(timeout: float = FLUSH_TIMEOUT, on_caller: bool = False) -> bool:
    """Sends what completed. ``on_caller``: send what is queued from this thread (the caller
    waits anyway: end of a Lambda invocation)."""
    rec = _recorder
    if rec is None:
        return True
    try:
        return rec.flush_on_caller(timeout) if on_caller else rec.flush(timeout)
    except Exception:  # noqa: BLE001
        return False


def _after_fork_in_child() -> None:
    rec = _recorder
    if rec is not None:
        rec.after_fork_child()


def _at_exit() -> None:
    flush(FLUSH_TIMEOUT)
    try:
        _core.drain_logs()
    except Exception:  # noqa: BLE001
        pass


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    _core.set_internal_paths([here])
    if os.environ.get("POWERTOOLS_DEBUG") or os.environ.get("OXRAY_DEBUG"):
        _core.set_debug(True)
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
