"""What every HTTP patch shares: the ``remote`` subsegment named after the host, the
``http`` block, flags from the status, trace-header injection, and ``ignore_endpoint``."""

from __future__ import annotations

import contextvars

from .. import _capture, _core, _errors
from ..context import _current

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, List, Optional, Tuple

HEADER = "X-Amzn-Trace-Id"

#: Set while a patched client is inside a call, so a lower layer (http.client under
#: requests, botocore) does not trace the same request twice.
_busy: contextvars.ContextVar[bool] = contextvars.ContextVar("oxray_http_busy", default=False)

_rules: List[Tuple[Optional[str], Optional[List[str]]]] = []


def ignore(hostname: Optional[str] = None, urls: Optional[List[str]] = None) -> None:
    """Requests to ``hostname`` (fnmatch glob) and/or with these exact paths are not traced."""
    if hostname is None and not urls:
        return
    _rules.append((hostname, list(urls) if urls else None))


def clear_ignored() -> None:
    _rules.clear()


def _ignored(host: str, path: str) -> bool:
    if not _rules:
        return False
    from fnmatch import fnmatch

    for pattern, urls in _rules:
        if pattern is not None and not fnmatch(host.lower(), pattern.lower()):
            continue
        if urls is not None and path not in urls:
            continue
        return True
    return False


def split_url(url: str) -> Tuple[str, str, str]:
    """(host, path, url without query and fragment)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path or "/"
    clean = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else url.split("?")[0]
    return host, path, clean


def parent() -> Optional[_core.Entity]:
    """Where a client call records, or None (tracing off, nothing open, nested call)."""
    if not _capture._ENABLED or _busy.get():
        return None
    entity = _current.get()
    if entity is None:
        from .. import _runtime

        rec = _runtime.recorder()
        if not rec.lambda_mode:
            return None
        entity = rec.lambda_facade()
    return entity


def begin(method: str, url: str) -> Optional[_core.Entity]:
    """Begins the remote subsegment for a request, or None if it is not traced. Unsampled
    traces still get a (recording nothing) subsegment, so the header says Sampled=0."""
    try:
        entity = parent()
        if entity is None:
            return None
        host, path, clean = split_url(url)
        if _ignored(host, path):
            return None
        sub = entity.begin_subsegment(host or "unknown-host")
        if sub.sampled:
            sub.set_namespace("remote")
            sub.set_http_request(method=(method or "").upper(), url=clean)
        return sub
    except Exception:  # noqa: BLE001
        return None


def header(sub: _core.Entity) -> str:
    return sub.outgoing_header()


def busy() -> contextvars.Token:
    return _busy.set(True)


def done(token: contextvars.Token) -> None:
    try:
        _busy.reset(token)
    except ValueError:
        _busy.set(False)


def finish(sub: Optional[_core.Entity], status: Any = None, content_length: Any = None) -> None:
    if sub is None:
        return
    try:
        if status is not None:
            sub.set_http_response(status, content_length)
        sub.end()
    except Exception:  # noqa: BLE001
        pass


def fail(sub: Optional[_core.Entity], exc: BaseException) -> None:
    if sub is None:
        return
    try:
        _errors.record(sub, exc, remote=True)
        sub.end()
    except Exception:  # noqa: BLE001
        pass
