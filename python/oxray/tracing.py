"""``oxray.tracing``: the ``aws_lambda_powertools.tracing`` helpers."""

from __future__ import annotations

from .tracer import Tracer

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any

__all__ = ["Tracer", "aiohttp_trace_config"]


def aiohttp_trace_config() -> Any:
    """An ``aiohttp.TraceConfig`` that traces each client request as a ``remote``
    subsegment and sends the trace header:
    ``aiohttp.ClientSession(trace_configs=[aiohttp_trace_config()])``."""
    from .patches.aiohttp import trace_config

    return trace_config()
