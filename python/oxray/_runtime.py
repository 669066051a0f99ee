"""Process-wide state: the recorder, fork safety and the flush at interpreter exit.

The recorder is made on first use (not at import) from the environment plus the overrides
given to ``xray_recorder.configure``.
"""

import atexit
import os
import sys

from . import _core

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Dict, Optional

_recorder: "Optional[_core.Recorder]" = None
#: The recorder's Lambda mode, read once per recorder (hot path).
_lambda_mode = False
_overrides: "Dict[str, Any]" = {}
_hooks_installed = False

#: Seconds a flush may wait for the sender (end of a Lambda invocation, exit).
FLUSH_TIMEOUT = 1.0


def recorder() -> "_core.Recorder":
    rec = _recorder
    if rec is None:
        rec = _make()
    return rec


def _make() -> "_core.Recorder":
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


def _set(rec: "Optional[_core.Recorder]") -> None:
    global _recorder, _lambda_mode
    _recorder = rec
    _lambda_mode = bool(rec is not None and rec.lambda_mode)


def reconfigure(**overrides: "Any") -> None:
    """Replaces the recorder with one built with these core config keys (None removes a key).
    What the old recorder completed is flushed first. Settings the core refuses are logged and
    forgotten: the configuration in force stays (a refused key kept in ``_overrides`` would
    make every later configuration fail too)."""
    wanted = dict(_overrides)
    for key, value in overrides.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value
    _install_hooks()
    try:
        import json

        rec = _core.Recorder(json.dumps(wanted) if wanted else None)
    except ValueError as exc:
        recorder().warn(f"configuration ignored: {exc}")
        return
    _overrides.clear()
    _overrides.update(wanted)
    old = _recorder
    _set(rec)
    if old is not None:
        old.flush(FLUSH_TIMEOUT, _may_release_gil())


def swap(rec: "Optional[_core.Recorder]") -> "Optional[_core.Recorder]":
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
    release_gil = _may_release_gil()
    try:
        return rec.flush_on_caller(timeout, release_gil) if on_caller else rec.flush(timeout, release_gil)
    except Exception:  # noqa: BLE001
        return False


def _may_release_gil() -> bool:
    """False in daemon threads (and threads not started by ``threading``): CPython < 3.14
    ends such a thread with ``pthread_exit`` if it takes the GIL back while the interpreter
    finalizes, and that unwinding through oxray's native frames aborts the whole process.
    Non-daemon threads are joined before finalization, so they may wait without the GIL."""
    threading = sys.modules.get("threading")
    if threading is None:
        return True
    try:
        return not threading.current_thread().daemon
    except Exception:  # noqa: BLE001
        return True


_COUNTER_NAMES = ("sent", "dropped", "truncated", "streamed", "send_errors", "warnings", "sampling_errors")


def counters() -> "Dict[str, int]":
    """The recorder's counters (zeros when no recorder was made yet). Never raises."""
    rec = _recorder
    snapshot = dict.fromkeys(_COUNTER_NAMES, 0)
    if rec is not None:
        try:
            snapshot.update(rec.counters())
        except Exception:  # noqa: BLE001 - tracing must never raise into user code
            pass
    return snapshot


def _after_fork_in_child() -> None:
    rec = _recorder
    if rec is not None:
        rec.after_fork_child()
        _flush_at_multiprocessing_exit(after_fork=True)


def _at_exit() -> None:
    flush(FLUSH_TIMEOUT)
    try:
        _core.drain_logs()
    except Exception:  # noqa: BLE001
        pass


def _flush_at_multiprocessing_exit(after_fork: bool = False) -> None:
    """A multiprocessing child ends with ``os._exit`` after running multiprocessing's exit
    finalizers, never atexit: the flush is registered as one of those finalizers (the last).
    Right after a fork, multiprocessing has yet to clear the finalizers the child inherited,
    so the registration waits for its after-fork hooks. Nothing is imported here."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        if after_fork:
            util.register_after_fork(_at_exit, _register_exit_finalizer)
        else:
            _register_exit_finalizer(None)
    except Exception:  # noqa: BLE001 - tracing must never break the process
        pass


def _register_exit_finalizer(_: "Any") -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, _at_exit, exitpriority=-100)


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    _core.set_internal_paths([here])
    if os.environ.get("POWERTOOLS_DEBUG") or os.environ.get("OXRAY_DEBUG"):
        _core.set_debug(True)
    _flush_at_multiprocessing_exit()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


# The native module initializes a process-wide cell the first time any of its objects is made,
# releasing the GIL meanwhile: a fork() by another thread in that moment would leave the child
# waiting on it forever. Made here, at import, that first object comes before any such thread.
_core.Site("oxray", "oxray", "default")

# Registered at import rather than when tracing starts: atexit runs the last registered handler
# first, so the exit flush comes after every handler registered once oxray is imported,
# handlers that trace included.
atexit.register(_at_exit)
