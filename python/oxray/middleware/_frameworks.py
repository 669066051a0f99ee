"""Exceptions a framework turns into a 500 response itself never reach a WSGI/ASGI
middleware: Flask's and Django's ``got_request_exception`` signals bring them to the
request's segment (fault + cause, as if the application had raised them).

Connected when a middleware is made, for the frameworks already imported then (building a
Flask or Django application imports its framework).
"""

from __future__ import annotations

import sys

from .. import _errors
from .._log import warn
from ..context import _current

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Optional, Set

    from .. import _core

_connected: Set[str] = set()


def connect() -> None:
    if "flask" in sys.modules and "flask" not in _connected:
        try:
            from flask import got_request_exception

            got_request_exception.connect(_on_flask_exception)
            _connected.add("flask")
        except Exception as problem:  # noqa: BLE001
            warn(f"Flask exceptions will not be recorded: {problem!r}")
    if "django" in sys.modules and "django" not in _connected:
        try:
            from django.core.signals import got_request_exception as django_signal

            django_signal.connect(_on_django_exception, dispatch_uid="oxray.middleware")
            _connected.add("django")
        except Exception as problem:  # noqa: BLE001
            warn(f"Django exceptions will not be recorded: {problem!r}")


def request_entity() -> Optional[_core.Entity]:
    """The current request's segment (in Lambda: its subsegment of the function segment)."""
    entity = _current.get()
    while entity is not None and entity.kind == "subsegment":
        parent = entity.parent
        if parent is None or parent.kind == "facade":
            break
        entity = parent
    return entity


def _record(exc: Any) -> None:
    try:
        if isinstance(exc, Exception):
            entity = request_entity()
            if entity is not None and entity.kind != "facade":
                _errors.record(entity, exc)
    except Exception as problem:  # noqa: BLE001 - a signal receiver must never raise
        warn(f"could not record the request's exception: {problem!r}")


def _on_flask_exception(sender: Any, exception: Any = None, **extra: Any) -> None:
    _record(exception)


def _on_django_exception(sender: Any, **extra: Any) -> None:
    _record(sys.exc_info()[1])
