"""http.client: a ``remote`` subsegment from ``request()`` to ``getresponse()``, with the
trace header added to the request headers (a copy: the caller's dict is not changed)."""

from __future__ import annotations

from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any


def patch(client: Any) -> None:
    conn = client.HTTPConnection
    send_request = conn._send_request
    getresponse = conn.getresponse
    if getattr(send_request, "__oxray__", False):
        return

    def _send_request(self: Any, method: str, url: str, body: Any, headers: Any, *args: Any, **kwargs: Any) -> Any:
        scheme = "https" if isinstance(self, getattr(client, "HTTPSConnection", ())) else "http"
        default_port = 443 if scheme == "https" else 80
        netloc = self.host if self.port in (None, default_port) else f"{self.host}:{self.port}"
        full = url if "://" in url else f"{scheme}://{netloc}{url}"
        sub = _http.begin(method, full)
        self._oxray_sub = sub
        if sub is not None:
            headers = dict(headers or {})
            headers[_http.HEADER] = _http.header(sub)
        try:
            return send_request(self, method, url, body, headers, *args, **kwargs)
        except BaseException as exc:
            self._oxray_sub = None
            _http.fail(sub, exc)
            raise

    def _getresponse(self: Any, *args: Any, **kwargs: Any) -> Any:
        sub = getattr(self, "_oxray_sub", None)
        self._oxray_sub = None
        try:
            response = getresponse(self, *args, **kwargs)
        except BaseException as exc:
            _http.fail(sub, exc)
            raise
        length = response.getheader("content-length")
        _http.finish(sub, response.status, int(length) if length and length.isdigit() else None)
        return response

    _send_request.__oxray__ = True  # type: ignore[attr-defined]
    conn._send_request = _send_request
    conn.getresponse = _getresponse
