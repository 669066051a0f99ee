"""aiohttp client: a ``TraceConfig`` that records a ``remote`` subsegment per request and
injects the trace header; the automatic patch adds it to every new ``ClientSession`` (once:
a session given :func:`oxray.tracing.aiohttp_trace_config` explicitly is left as it is)."""

from __future__ import annotations

from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any


async def _on_request_start(session: Any, ctx: Any, params: Any) -> None:
    sub = _http.begin(params.method, str(params.url))
    ctx.oxray_sub = sub
    if sub is not None:
        params.headers[_http.HEADER] = _http.header(sub)


async def _on_request_end(session: Any, ctx: Any, params: Any) -> None:
    sub = getattr(ctx, "oxray_sub", None)
    ctx.oxray_sub = None
    response = params.response
    _http.finish(sub, response.status, response.content_length)


async def _on_request_exception(session: Any, ctx: Any, params: Any) -> None:
    sub = getattr(ctx, "oxray_sub", None)
    ctx.oxray_sub = None
    _http.fail(sub, params.exception)


def trace_config() -> Any:
    from aiohttp import TraceConfig

    config = TraceConfig()
    config.on_request_start.append(_on_request_start)
    config.on_request_end.append(_on_request_end)
    config.on_request_exception.append(_on_request_exception)
    config.oxray = True  # type: ignore[attr-defined]
    return config


def patch(client: Any) -> None:
    session = client.ClientSession
    init = session.__init__
    if getattr(init, "__oxray__", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        configs = list(kwargs.get("trace_configs") or [])
        if not any(getattr(c, "oxray", False) for c in configs):
            configs.append(trace_config())
        kwargs["trace_configs"] = configs
        init(self, *args, **kwargs)

    __init__.__oxray__ = True  # type: ignore[attr-defined]
    __init__.__wrapped__ = init  # type: ignore[attr-defined]
    session.__init__ = __init__
