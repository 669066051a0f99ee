"""Metadata conversion for values the native walker does not know.

Called from Rust with one object; returns something simpler (str, number, list, dict) that
the walker then writes. Never reads a stream, never advances an iterator, never changes the
object: generators, iterators, file objects and botocore ``StreamingBody`` are described by
their type instead. What an object can do is asked of its class, not of the object, so a
``__getattr__`` with side effects (proxies, mocks, lazy loaders) is never called.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any


def _type_label(obj: Any) -> str:
    cls = type(obj)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"


def _is_stream_or_iterator(obj: Any) -> bool:
    cls = type(obj)
    if hasattr(cls, "__next__") or hasattr(cls, "__anext__"):
        return True  # iterators and generators: reading would consume them
    if hasattr(cls, "send") and hasattr(cls, "throw"):
        return True  # coroutines
    return callable(getattr(cls, "read", None))  # files, sockets, botocore StreamingBody, …


def _public_attributes(obj: Any) -> dict:
    """Non-callable attributes not starting with ``_`` (what the X-Ray SDK records)."""
    out = {}
    try:
        items = list(vars(obj).items())
    except TypeError:
        items = []
        for slot in getattr(type(obj), "__slots__", ()) or ():
            if hasattr(obj, slot):
                items.append((slot, getattr(obj, slot)))
    for key, value in items:
        if isinstance(key, str) and not key.startswith("_") and not callable(value):
            out[key] = value
    return out


def to_jsonable(obj: Any) -> Any:
    """A JSON-friendly stand-in for ``obj``."""
    if isinstance(obj, type):
        return str(obj)
    if _is_stream_or_iterator(obj):
        return f"<{_type_label(obj)}: not recorded (streams and iterators are never read)>"
    if isinstance(obj, BaseException):
        return _public_attributes(obj)
    module = type(obj).__module__
    if module == "datetime" and callable(getattr(type(obj), "isoformat", None)):
        return obj.isoformat()
    if module in ("decimal", "uuid", "fractions", "pathlib", "ipaddress") or module.startswith("pathlib"):
        return str(obj)
    if module == "enum" or hasattr(type(obj), "_value2member_map_"):
        return getattr(obj, "value", str(obj))
    fields = getattr(type(obj), "__dataclass_fields__", None)
    if isinstance(fields, dict):
        return {name: getattr(obj, name, None) for name in fields}
    if callable(getattr(type(obj), "model_dump", None)):  # pydantic v2
        return obj.model_dump(mode="json")
    if callable(getattr(type(obj), "dict", None)) and hasattr(type(obj), "__fields__"):  # pydantic v1
        return obj.dict()
    if callable(obj):
        return f"<{getattr(obj, '__qualname__', _type_label(obj))}>"
    from collections.abc import Mapping, MappingView, Sequence, Set

    if isinstance(obj, Mapping):
        return dict(obj.items())
    if isinstance(obj, (Sequence, Set, MappingView, range)):
        return list(obj)
    if hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        return _public_attributes(obj)
    return str(obj)
