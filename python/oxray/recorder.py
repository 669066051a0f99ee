"""``xray_recorder``: the ``aws_xray_sdk.core`` recorder API people use, on the oxray core.

Entities are ``oxray._core.Entity`` objects (``put_annotation``, ``put_metadata``,
``add_exception``, ``set_user``, ``put_http_meta``-style setters, ``end``). The current
entity lives in a ``contextvars.ContextVar`` (see :mod:`oxray.context`), so the same code is
correct in threads that copy their context and in concurrent asyncio tasks.
"""

from __future__ import annotations

from . import _capture, _core, _errors, _runtime
from ._log import debug, warn
from .context import _current

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Optional, Sequence

_LOCAL = ("local", None, "")


def _valid_sampling_rules(rules: Any) -> Any:
    """``rules`` (a dict, JSON text or a file path) if the core accepts them; else logged, None."""
    import json

    try:
        _core.Recorder(json.dumps({"emit_mode": "memory", "sampling_rules": rules}))
        return rules
    except (ValueError, TypeError) as problem:
        warn(f"xray_recorder.configure(sampling_rules=...) ignored: {problem}")
        return None


class SegmentNotFoundException(Exception):
    """Raised only when AWS_XRAY_CONTEXT_MISSING=RUNTIME_ERROR and there is no segment."""


def _restorable(parent: Optional[_core.Entity]) -> Optional[_core.Entity]:
    """What becomes current again when a subsegment ends: its parent, except a Lambda facade,
    which is looked up per invocation (keeping it would leak it into the next invocation)."""
    return None if parent is None or parent.kind == "facade" else parent


def _dummy_segment(name: str) -> _core.Entity:
    """An unsampled segment: it takes every call and sends nothing."""
    return _runtime.recorder().begin_segment(name, None, False)


def _dummy_subsegment(name: str) -> _core.Entity:
    """With tracing off, what the escape hatch hands out instead of None: a subsegment of an
    unsampled segment, which takes every call and sends nothing (the X-Ray SDK's dummy
    entities when the SDK is disabled, as Powertools disables it outside Lambda).
    ``begin_subsegment`` does not make it current (nothing is traced, so nothing needs to
    find it); ``in_subsegment`` makes it current for its block, as any subsegment."""
    return _dummy_segment(name).begin_subsegment(name)


def _is_root(entity: _core.Entity) -> bool:
    return entity.kind in ("segment", "facade")


class _SubsegmentContext:
    """``with xray_recorder.in_subsegment(name):`` and ``@xray_recorder.in_subsegment(name)``."""

    def __init__(self, recorder: XRayRecorder, name: Optional[str], namespace: Optional[str]) -> None:
        self._recorder = recorder
        self._name = name
        self._namespace = namespace
        self._stack: list = []

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self._recorder.capture(self._name or getattr(fn, "__name__", None))(fn)

    def __enter__(self) -> Optional[_core.Entity]:
        sub = self._recorder._begin(self._name or "subsegment", self._namespace)
        token = _current.set(sub) if sub is not None else None
        self._stack.append((sub, token))
        return sub

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        sub, token = self._stack.pop()
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:
                _current.set(_restorable(sub.parent) if sub is not None else None)
        if sub is not None:
            if ev is not None:
                _errors.record(sub, ev)
            sub.end()

    async def __aenter__(self) -> Optional[_core.Entity]:
        return self.__enter__()

    async def __aexit__(self, et: Any, ev: Any, tb: Any) -> None:
        self.__exit__(et, ev, tb)


class _SegmentContext:
    def __init__(self, recorder: XRayRecorder, name: Optional[str], kwargs: dict) -> None:
        self._recorder = recorder
        self._name = name
        self._kwargs = kwargs
        self._segment: Optional[_core.Entity] = None

    def __enter__(self) -> Optional[_core.Entity]:
        self._segment = self._recorder.begin_segment(self._name, **self._kwargs)
        return self._segment

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        if self._segment is not None and ev is not None:
            _errors.record(self._segment, ev)
        self._recorder.end_segment()

    async def __aenter__(self) -> Optional[_core.Entity]:
        return self.__enter__()

    async def __aexit__(self, et: Any, ev: Any, tb: Any) -> None:
        self.__exit__(et, ev, tb)


class XRayRecorder:
    """The recorder singleton ``oxray.xray_recorder``."""

    def __init__(self) -> None:
        self.service: Optional[str] = None
        self.sampling = True
        self.stream_sql = True
        self.max_trace_back = 10

    # -- configuration -----------------------------------------------------------------------

    def configure(
        self,
        sampling: Optional[bool] = None,
        plugins: Optional[Sequence[str]] = None,
        context_missing: Optional[str] = None,
        sampling_rules: Any = None,
        daemon_address: Optional[str] = None,
        service: Optional[str] = None,
        context: Any = None,
        emitter: Any = None,
        streaming: Any = None,
        dynamic_naming: Any = None,
        streaming_threshold: Optional[int] = None,
        max_trace_back: Optional[int] = None,
        sampler: Any = None,
        stream_sql: Optional[bool] = True,
    ) -> None:
        """Applies the options oxray supports; the others are logged and ignored. As in the
        SDK, AWS_XRAY_DAEMON_ADDRESS, AWS_XRAY_CONTEXT_MISSING and AWS_XRAY_TRACING_NAME win
        over the arguments."""
        import os

        overrides: dict = {}
        if service is not None:
            self.service = service
        if sampling is not None:
            # sampling=False: every new trace is sampled (no rules), as in the SDK.
            self.sampling = bool(sampling)
            overrides["sample_rate"] = None if sampling else 1.0
            if not sampling:
                overrides["sampling_rules"] = None  # rules would win over the fixed rate
        if sampling_rules is not None:
            rules = _valid_sampling_rules(sampling_rules)
            if rules is not None:
                overrides["sampling_rules"] = rules
                overrides["sample_rate"] = None
        if daemon_address is not None and not os.environ.get("AWS_XRAY_DAEMON_ADDRESS"):
            overrides["daemon_address"] = daemon_address
        if context_missing is not None and not os.environ.get("AWS_XRAY_CONTEXT_MISSING"):
            overrides["context_missing"] = context_missing
        if streaming_threshold is not None:
            overrides["max_embedded_children"] = max(1, int(streaming_threshold))
        if max_trace_back is not None:
            self.max_trace_back = max(0, int(max_trace_back))
            _errors.stack_limit = self.max_trace_back
        if stream_sql is not None:
            self.stream_sql = bool(stream_sql)
        for name, value in (
            ("plugins", plugins),
            ("context", context),
            ("emitter", emitter),
            ("streaming", streaming),
            ("dynamic_naming", dynamic_naming),
            ("sampler", sampler),
        ):
            if value is not None and value != ():
                debug(f"xray_recorder.configure({name}=...) is not supported by oxray; ignored")
        if overrides or sampling is not None:
            try:
                _runtime.reconfigure(**overrides)
            except Exception as problem:  # noqa: BLE001
                warn(f"xray_recorder.configure: {problem}")

    @property
    def context_missing(self) -> str:
        return _runtime.recorder().context_missing_strategy

    @property
    def enabled(self) -> bool:
        return _capture._ENABLED and _runtime.recorder().enabled

    # -- segments ------------------------------------------------------------------------------

    def begin_segment(
        self,
        name: Optional[str] = None,
        traceid: Optional[str] = None,
        parent_id: Optional[str] = None,
        sampling: Optional[Any] = None,
    ) -> _core.Entity:
        """Begins a segment and makes it current. In Lambda the function segment belongs to
        Lambda: the segment is unsampled (records nothing) and a warning is logged."""
        rec = _runtime.recorder()
        if rec.lambda_mode:
            warn("cannot create segments inside a Lambda function; this one records nothing")
            return rec.begin_segment(name or self.service, None, False)
        parts = []
        if traceid:
            parts.append(f"Root={traceid}")
        if parent_id:
            parts.append(f"Parent={parent_id}")
        header = ";".join(parts) or None
        sampled: Optional[bool] = None
        if sampling is not None:
            sampled = bool(sampling)
        elif not _capture._ENABLED:
            sampled = False
        segment = rec.begin_segment(name or self.service, header, sampled)
        _current.set(segment)
        return segment

    def end_segment(self, end_time: Optional[float] = None) -> None:
        segment = self.current_segment()
        if segment is None:
            self._context_missing("end_segment")
            return
        segment.end(end_time)
        _current.set(None)

    def in_segment(self, name: Optional[str] = None, **kwargs: Any) -> _SegmentContext:
        return _SegmentContext(self, name, kwargs)

    def in_segment_async(self, name: Optional[str] = None, **kwargs: Any) -> _SegmentContext:
        return _SegmentContext(self, name, kwargs)

    def current_segment(self) -> Optional[_core.Entity]:
        entity = _current.get()
        if entity is None:
            if not self.enabled:
                return _dummy_segment("dummy")
            rec = _runtime.recorder()
            return rec.lambda_facade() if rec.lambda_mode else None
        while entity is not None and not _is_root(entity):
            entity = entity.parent
        return entity

    # -- subsegments -----------------------------------------------------------------------------

    def _context_missing(self, what: str) -> None:
        if _runtime.recorder().context_missing(what):
            raise SegmentNotFoundException(
                "cannot find the current segment/subsegment, please make sure you have a segment open"
            )

    def _begin(self, name: str, namespace: Optional[str]) -> Optional[_core.Entity]:
        if not self.enabled:
            return _dummy_subsegment(name)
        parent = _current.get()
        if parent is None:
            rec = _runtime.recorder()
            if rec.lambda_mode:
                parent = rec.lambda_facade()
            else:
                self._context_missing(f"begin_subsegment({name!r})")
                return None
        sub = parent.begin_subsegment(name)
        if namespace not in _LOCAL:
            sub.set_namespace(namespace)
        return sub

    def begin_subsegment(self, name: str, namespace: str = "local") -> Optional[_core.Entity]:
        if not self.enabled:
            return _dummy_subsegment(name)
        sub = self._begin(name, namespace)
        if sub is not None:
            _current.set(sub)
        return sub

    def begin_subsegment_without_sampling(self, name: str) -> _core.Entity:
        unsampled = _runtime.recorder().begin_segment(name, None, False)
        sub = unsampled.begin_subsegment(name)
        _current.set(sub)
        return sub

    def end_subsegment(self, end_time: Optional[float] = None) -> None:
        sub = _current.get()
        if sub is None or sub.kind != "subsegment":
            if self.enabled:  # off, begin_subsegment handed out a dummy, never current
                self._context_missing("end_subsegment")
            return
        sub.end(end_time)
        _current.set(_restorable(sub.parent))

    def current_subsegment(self) -> Optional[_core.Entity]:
        entity = _current.get()
        if entity is not None and entity.kind == "subsegment":
            return entity
        return None if self.enabled else _dummy_subsegment("dummy")

    def in_subsegment(self, name: Optional[str] = None, **kwargs: Any) -> _SubsegmentContext:
        return _SubsegmentContext(self, name, kwargs.get("namespace"))

    def in_subsegment_async(self, name: Optional[str] = None, **kwargs: Any) -> _SubsegmentContext:
        return _SubsegmentContext(self, name, kwargs.get("namespace"))

    def capture(self, name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: a subsegment named ``name`` (default: the function's name) per call.
        Works on every kind of callable, ``async def`` included."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            label = name or getattr(fn, "__name__", "function")
            return _capture.wrap(fn, _core.Site(label, label, "default", False, False))

        return decorate

    capture_async = capture

    # -- the current entity ------------------------------------------------------------------------

    def get_trace_entity(self) -> Optional[_core.Entity]:
        entity = _current.get()
        if entity is None:
            rec = _runtime.recorder()
            if rec.lambda_mode:
                return rec.lambda_facade()
        return entity

    def set_trace_entity(self, entity: Optional[_core.Entity]) -> None:
        _current.set(entity)

    def clear_trace_entities(self) -> None:
        _current.set(None)

    def put_annotation(self, key: str, value: Any) -> None:
        entity = self.get_trace_entity()
        if entity is None:
            self._context_missing("put_annotation")
        elif entity.kind == "facade":
            warn("put_annotation: the Lambda function segment cannot be changed; dropped")
        else:
            entity.put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        entity = self.get_trace_entity()
        if entity is None:
            self._context_missing("put_metadata")
        elif entity.kind == "facade":
            warn("put_metadata: the Lambda function segment cannot be changed; dropped")
        else:
            entity.put_metadata(key, value, namespace)

    def is_sampled(self) -> bool:
        entity = self.get_trace_entity()
        return bool(entity is not None and entity.sampled)

    def stream_subsegments(self) -> None:
        _runtime.flush()

    def flush(self, timeout: float = _runtime.FLUSH_TIMEOUT) -> bool:
        """Sends everything completed and waits until it left (oxray extension)."""
        return _runtime.flush(timeout)

    def counters(self) -> dict:
        """What tracing sent, dropped and corrected so far (oxray extension): ``sent``,
        ``dropped``, ``truncated``, ``streamed``, ``send_errors``, ``warnings``,
        ``sampling_errors``. Never raises; all zeros before anything was traced."""
        return _runtime.counters()


xray_recorder = XRayRecorder()


def patch_all(double_patch: bool = False) -> None:
    """Patches every supported library, lazily (http.client only with double_patch)."""
    from . import patches

    patches.patch_all(double_patch)


def patch(
    modules_to_patch: Sequence[str],
    raise_errors: bool = True,
    ignore_module_patterns: Optional[Sequence[str]] = None,
) -> None:
    from . import patches

    patches.patch(modules_to_patch, raise_errors)
