"""Warnings from the Python layer: logged on logger ``oxray`` and counted by the recorder.

``logging`` is imported only when there is something to log, to keep ``import oxray`` cheap.
"""

from __future__ import annotations


def warn(message: str) -> None:
    """Logs and counts a tracing problem. Never raises."""
    try:
        from . import _runtime

        _runtime.recorder().warn(message)
    except Exception:  # noqa: BLE001 - tracing must never raise into user code
        try:
            import logging

            logging.getLogger("oxray").warning(message)
        except Exception:  # noqa: BLE001
            pass


def debug(message: str) -> None:
    try:
        import logging

        logging.getLogger("oxray").debug(message)
    except Exception:  # noqa: BLE001
        pass
