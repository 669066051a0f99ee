"""oxray: AWS X-Ray tracing on a Rust core.

``from oxray import Tracer`` is a drop-in for ``from aws_lambda_powertools import Tracer``;
``oxray.xray_recorder``, ``oxray.patch_all`` and ``oxray.patch`` stand in for
``aws_xray_sdk.core``. Importing oxray is cheap: library patches are applied lazily, when the
patched library is imported.
"""

from ._core import __version__
from .tracer import Tracer

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any

__all__ = ["Tracer", "xray_recorder", "patch_all", "patch", "__version__"]


def __getattr__(name: str) -> "Any":
    # The recorder API is loaded on first use, not at import.
    if name in ("xray_recorder", "patch_all", "patch"):
        from . import recorder

        return getattr(recorder, name)
    raise AttributeError(f"module 'oxray' has no attribute {name!r}")
