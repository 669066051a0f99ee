"""Exceptions recorded on subsegments.

The subsegment an exception escapes first gets the full record (type, message, stack);
each enclosing subsegment it then escapes gets ``cause: "<that exception's id>"``, as the
X-Ray SDK does. The SDK marks the user's exception object to know it was recorded; oxray
keeps a small table instead, so the user's exception is never changed.
"""

from . import _core

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Dict, Tuple

_MAX_REMEMBERED = 32
#: id(exception) → (the exception, its record's id, the id and trace id of the entity
#: holding the record).
_recorded: "Dict[int, Tuple[BaseException, str, str, str]]" = {}

#: Stack frames kept per exception (the SDK's max_trace_back).
stack_limit = 10


def record(entity: "_core.Entity", exc: "BaseException", remote: bool = False) -> None:
    """Records ``exc`` as the reason ``entity`` failed. Never raises."""
    try:
        seen = _recorded.get(id(exc))
        if seen is not None and seen[0] is exc:
            if seen[2] != entity.id:  # recorded here already (a framework signal, then the raise)
                entity.add_exception_ref(seen[1])
            return
        exception_id = entity.add_exception(exc, remote=remote, limit=stack_limit)
        if exception_id is None:
            return
        if len(_recorded) >= _MAX_REMEMBERED:
            _recorded.pop(next(iter(_recorded)), None)
        _recorded[id(exc)] = (exc, exception_id, entity.id, entity.trace_id)
    except Exception:  # noqa: BLE001 - e.g. the table changed size in another thread
        pass


def release_trace(trace_id: str) -> None:
    """Forgets the exceptions recorded in this trace (its server request is over), so the
    table does not keep their tracebacks alive."""
    try:
        for key, seen in list(_recorded.items()):
            if seen[3] == trace_id:
                _recorded.pop(key, None)
    except Exception:  # noqa: BLE001
        pass


def forget() -> None:
    """Drops the table (end of a Lambda invocation): no exception outlives its invocation."""
    _recorded.clear()
