"""requests: a ``remote`` subsegment per ``Session.send`` (named after the host), with the
trace header injected into the outgoing request."""

from __future__ import annotations

from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any


def patch(sessions: Any) -> None:
    session = sessions.Session
    original = session.send
    if getattr(original, "__oxray__", False):
        return

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        sub = _http.begin(request.method, request.url)
        if sub is None:
            return original(self, request, **kwargs)
        request.headers[_http.HEADER] = _http.header(sub)
        token = _http.busy()
        try:
            response = original(self, request, **kwargs)
        except BaseException as exc:
            _http.fail(sub, exc)
            raise
        finally:
            _http.done(token)
        _http.finish(sub, response.status_code, _content_length(response.headers))
        return response

    send.__oxray__ = True  # type: ignore[attr-defined]
    send.__wrapped__ = original  # type: ignore[attr-defined]
    session.send = send


def _content_length(headers: Any) -> Any:
    try:
        value = headers.get("content-length")
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
