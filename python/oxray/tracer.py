"""``Tracer``: the Powertools for AWS Lambda (Python) Tracer API on the oxray core.

Same constructor, shared configuration across instances, environment variables, decorators,
subsegment names, annotation and metadata keys as ``aws_lambda_powertools.Tracer``
(see the package README for the deliberate differences: tracing never raises into your code,
concurrent coroutines get the right parents, metadata never consumes streams, …).
"""

import os

from . import _capture, _core, _env
from ._capture import _get

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Dict, List, Optional, Sequence, Union

    AnyCallable = Callable[..., Any]


def _sanitize(name: str) -> str:
    return _core.sanitize_name(name)


class Tracer:
    """Tracer(service=None, disabled=None, auto_patch=None, patch_modules=None, provider=None)

    Configuration is shared by every instance: a later ``Tracer()`` in another module reuses
    the service, patching and provider of the first one. Tracing is off outside Lambda
    (``LAMBDA_TASK_ROOT`` unset) unless a server middleware (:mod:`oxray.middleware`) is in
    use, under SAM local or Chalice local, with ``POWERTOOLS_TRACE_DISABLED=true`` or
    ``disabled=True``; once any instance is disabled, all are.
    """

    _default_config: "Dict[str, Any]" = {
        "service": "",
        "disabled": False,
        "auto_patch": True,
        "patch_modules": None,
        "provider": None,
        # Some instance was turned off only for running outside Lambda: a server middleware
        # turns tracing back on (see _enter_server_mode).
        "outside_lambda": False,
    }
    _config: "Dict[str, Any]" = dict(_default_config)

    def __init__(
        self,
        service: "Optional[str]" = None,
        disabled: "Optional[bool]" = None,
        auto_patch: "Optional[bool]" = None,
        patch_modules: "Optional[Sequence[str]]" = None,
        provider: "Any" = None,
    ) -> None:
        self.__build_config(service, disabled, auto_patch, patch_modules, provider)
        config = self._config
        self.service: str = config["service"]
        self.auto_patch: Optional[bool] = config["auto_patch"]
        if self.disabled:
            _capture.set_enabled(False)
        if self.auto_patch:
            self.patch(modules=patch_modules)

    def __build_config(
        self,
        service: "Optional[str]",
        disabled: "Optional[bool]",
        auto_patch: "Optional[bool]",
        patch_modules: "Optional[Sequence[str]]",
        provider: "Any",
    ) -> None:
        config = self._config
        if provider is not None:
            config["provider"] = provider
        if auto_patch is not None:
            config["auto_patch"] = auto_patch
        service = service or os.environ.get("POWERTOOLS_SERVICE_NAME")
        if service:
            config["service"] = service
        if disabled is not None:
            explicit, outside_lambda = bool(disabled), False
        else:
            explicit = _env.tracing_disabled_explicitly()
            outside_lambda = not explicit and not _env.in_lambda()
        config["disabled"] = explicit or bool(config["disabled"])
        config["outside_lambda"] = outside_lambda or bool(config["outside_lambda"])
        if patch_modules:
            config["patch_modules"] = list(patch_modules)

    @property
    def disabled(self) -> bool:
        """Shared by every instance: explicitly disabled, or outside Lambda with no server
        middleware."""
        config = self._config
        return bool(config["disabled"] or (config["outside_lambda"] and not _env.server_mode))

    @disabled.setter
    def disabled(self, value: bool) -> None:
        """``tracer.disabled = True`` turns tracing off for every instance, as
        ``Tracer(disabled=True)`` does; ``False`` turns it back on (still off outside Lambda
        without a server middleware). Powertools keeps a plain attribute there, which silences
        only that instance's annotations and metadata."""
        self._config["disabled"] = bool(value)
        _capture.set_enabled(not self.disabled)

    @classmethod
    def _enter_server_mode(cls) -> None:
        """A server middleware was made: Tracers that were off only for running outside
        Lambda are turned on, and the patches they asked for are applied."""
        config = cls._config
        if config["disabled"] or not config["outside_lambda"]:
            return
        _capture.set_enabled(True)
        if config["auto_patch"]:
            from . import patches

            modules = config["patch_modules"]
            if modules is None:
                patches.patch_all()
            else:
                patches.patch(modules, raise_errors=False)

    @property
    def provider(self) -> "Any":
        """The escape hatch: ``oxray.xray_recorder`` unless another provider was given (loaded
        on first use, not at construction)."""
        provider = self._config["provider"]
        if provider is None:
            from .recorder import xray_recorder

            provider = self._config["provider"] = xray_recorder
        return provider

    @provider.setter
    def provider(self, value: "Any") -> None:
        self._config["provider"] = value

    @classmethod
    def _reset_config(cls) -> None:
        """Forget the shared configuration (for tests), and turn tracing back on."""
        cls._config = dict(cls._default_config)
        _capture.set_enabled(True)
        from . import _handler

        _handler.reset_cold_start()

    # -- annotations and metadata on the current subsegment -------------------------------

    def put_annotation(self, key: str, value: "Union[str, int, float, bool]") -> None:
        """Adds an indexed annotation to the current subsegment. Outside any subsegment it is
        logged and dropped (Powertools raises FacadeSegmentMutationException)."""
        if not _capture._ENABLED:
            return
        entity = _get()
        if entity is None:
            entity = _capture.root()
            if entity is None:
                return
        # The core refuses changes to the Lambda function segment with a logged warning.
        entity.put_annotation(key, value)

    def put_metadata(self, key: str, value: "Any", namespace: "Optional[str]" = None) -> None:
        """Adds metadata to the current subsegment under ``namespace`` (default: the service).
        The value is converted now: later changes to it are not recorded; streams,
        generators and iterators are recorded by type, never read."""
        if not _capture._ENABLED:
            return
        entity = _get()
        if entity is None:
            entity = _capture.root()
            if entity is None:
                return
        entity.put_metadata(key, value, namespace or self.service)

    # -- patching --------------------------------------------------------------------------

    def patch(self, modules: "Optional[Sequence[str]]" = None) -> None:
        """Patches supported libraries (all by default). Lazy: a library not yet imported is
        patched when it is imported; importing it is never forced."""
        if self.disabled:
            return
        from . import patches

        if modules is None:
            patches.patch_all()
        else:
            patches.patch(modules)

    def ignore_endpoint(self, hostname: "Optional[str]" = None, urls: "Optional[List[str]]" = None) -> None:
        """Stops tracing HTTP calls to ``hostname`` (an fnmatch glob) and/or these URL paths,
        in every HTTP patch (requests, httpx, http.client, aiohttp)."""
        from .patches import _http

        _http.ignore(hostname, urls)

    # -- decorators --------------------------------------------------------------------------

    def capture_lambda_handler(
        self,
        lambda_handler: "Optional[AnyCallable]" = None,
        capture_response: "Optional[bool]" = None,
        capture_error: "Optional[bool]" = None,
    ) -> "Any":
        """Traces the handler as subsegment ``## <handler name>`` with ColdStart and Service
        annotations, records the response (or error) as metadata, and flushes before
        returning. Works on ``def`` and ``async def`` handlers."""
        if lambda_handler is None:
            return lambda fn: self.capture_lambda_handler(fn, capture_response, capture_error)
        name = getattr(lambda_handler, "__name__", None) or "handler"
        site = _core.Site(
            "## " + name,
            name,
            self.service,
            _resolve(capture_response, "POWERTOOLS_TRACER_CAPTURE_RESPONSE"),
            _resolve(capture_error, "POWERTOOLS_TRACER_CAPTURE_ERROR"),
        )
        from . import _handler

        return _handler.wrap_handler(lambda_handler, site, self.service)

    def capture_method(
        self,
        method: "Optional[AnyCallable]" = None,
        capture_response: "Optional[bool]" = None,
        capture_error: "Optional[bool]" = None,
    ) -> "Any":
        """Traces a function or method as subsegment ``## <module>.<qualname>``: plain and
        ``async`` functions, generators and async generators, ``@contextmanager`` functions
        (either decorator order), static and class methods."""
        if method is None:
            return lambda fn: self.capture_method(fn, capture_response, capture_error)
        if isinstance(method, (staticmethod, classmethod)):
            inner = self.capture_method(method.__func__, capture_response, capture_error)
            return type(method)(inner)
        module = getattr(method, "__module__", None) or ""
        qualname = getattr(method, "__qualname__", None) or getattr(method, "__name__", "function")
        name = _sanitize(f"{module}.{qualname}" if module else qualname)
        site = _core.Site(
            "## " + name,
            name,
            self.service,
            _resolve(capture_response, "POWERTOOLS_TRACER_CAPTURE_RESPONSE"),
            _resolve(capture_error, "POWERTOOLS_TRACER_CAPTURE_ERROR"),
        )
        return _capture.wrap(method, site)


def _resolve(explicit: "Optional[bool]", env_name: str) -> bool:
    if explicit is not None:
        return bool(explicit)
    return _env.flag(env_name, True)
