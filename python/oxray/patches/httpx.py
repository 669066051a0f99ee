"""httpx: a ``remote`` subsegment per request at the transport (sync and async), with the
trace header injected."""

from __future__ import annotations

from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any


def patch(default: Any) -> None:
    sync_cls = default.HTTPTransport
    async_cls = default.AsyncHTTPTransport
    handle = sync_cls.handle_request
    handle_async = async_cls.handle_async_request
    if getattr(handle, "__oxray__", False):
        return

    def handle_request(self: Any, request: Any) -> Any:
        sub = _http.begin(request.method, str(request.url))
        if sub is None:
            return handle(self, request)
        request.headers[_http.HEADER] = _http.header(sub)
        token = _http.busy()
        try:
            response = handle(self, request)
        except BaseException as exc:
            _http.fail(sub, exc)
            raise
        finally:
            _http.done(token)
        _http.finish(sub, response.status_code, _length(response))
        return response

    async def handle_async_request(self: Any, request: Any) -> Any:
        sub = _http.begin(request.method, str(request.url))
        if sub is None:
            return await handle_async(self, request)
        request.headers[_http.HEADER] = _http.header(sub)
        token = _http.busy()
        try:
            response = await handle_async(self, request)
        except BaseException as exc:
            _http.fail(sub, exc)
            raise
        finally:
            _http.done(token)
        _http.finish(sub, response.status_code, _length(response))
        return response

    handle_request.__oxray__ = True  # type: ignore[attr-defined]
    sync_cls.handle_request = handle_request
    async_cls.handle_async_request = handle_async_request


def _length(response: Any) -> Any:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None
