"""Library patches, applied lazily.

``patch(["requests"])`` patches requests now if it is already imported, otherwise when it is
imported (a ``sys.meta_path`` finder watches for the few module names involved). Nothing is
ever imported on the user's behalf, so ``Tracer()`` costs no botocore import.
"""

import sys

# On the start-up path: annotations are quoted rather than deferred by
# `from __future__ import annotations`, which would import __future__ at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

#: patch name → [(module that must be loaded, "oxray.patches.<x>:<function>")].
_TARGETS: "Dict[str, List[Tuple[str, str]]]" = {
    "botocore": [
        ("botocore.client", "botocore:patch_client"),
        ("botocore.endpoint", "botocore:patch_endpoint"),
    ],
    "requests": [("requests.sessions", "requests:patch")],
    "httplib": [("http.client", "httplib:patch")],
    "httpx": [("httpx._transports.default", "httpx:patch")],
    "aiohttp": [("aiohttp.client", "aiohttp:patch")],
    "sqlite3": [("sqlite3", "sqlite3:patch")],
}
_ALIASES = {"boto3": "botocore", "http.client": "httplib", "http_client": "httplib"}
#: Modules the X-Ray SDK patches and oxray does not: asked for, they are logged and skipped,
#: never an error (a Tracer(patch_modules=[...]) written for Powertools must not fail in
#: Lambda). pynamodb calls go through botocore, which is patched instead, as the SDK adds it.
_SDK_ONLY = {
    "aiobotocore": None,
    "aioboto3": None,
    "pynamodb": "botocore",
    "mysql": None,
    "pymongo": None,
    "pymysql": None,
    "psycopg2": None,
    "psycopg": None,
    "pg8000": None,
    "sqlalchemy_core": None,
}
#: What patch_all() patches; http.client only with double_patch (as the X-Ray SDK does).
_ALL = ("botocore", "requests", "sqlite3", "httpx", "aiohttp")

_requested: "Set[str]" = set()
#: module name → patch functions waiting for that module to be imported.
_waiting: "Dict[str, List[str]]" = {}
_applied: "Set[str]" = set()
_finder_installed = False


def supported() -> "Tuple[str, ...]":
    return tuple(_TARGETS)


def patched() -> "Set[str]":
    """Patch names requested so far (applied now or on import)."""
    return set(_requested)


def patch_all(double_patch: bool = False) -> None:
    names = list(_ALL) + (["httplib"] if double_patch else [])
    patch(names, raise_errors=False)


def patch(modules: "Sequence[str]", raise_errors: bool = True) -> None:
    """Requests patches by name. A module the X-Ray SDK patches and oxray does not is logged
    and skipped; any other unknown name is logged (or raises ValueError when ``raise_errors``,
    as the SDK does for names it does not know)."""
    if isinstance(modules, str):
        modules = [modules]
    unknown = []
    not_traced = []
    for raw in modules:
        if raw in _SDK_ONLY:
            not_traced.append(raw)
            instead = _SDK_ONLY[raw]
            if instead is None:
                continue
            raw = instead
        name = _ALIASES.get(raw, raw)
        if name not in _TARGETS:
            unknown.append(raw)
            continue
        if name in _requested:
            continue
        _requested.add(name)
        for module_name, target in _TARGETS[name]:
            if module_name in sys.modules:
                _apply(target, sys.modules[module_name])
            else:
                _waiting.setdefault(module_name, []).append(target)
                _install_finder()
    if not_traced:
        from .._log import warn  # imported only when there is something to log

        warn(
            f"modules {not_traced} are patched by the X-Ray SDK, not by oxray: their calls are not traced "
            f"(oxray patches {sorted(_TARGETS)})"
        )
    if unknown:
        message = f"modules {unknown} are not supported by oxray (supported: {sorted(_TARGETS)})"
        if raise_errors:
            raise ValueError(message)
        from .._log import warn  # imported only when there is a problem to log

        warn(message)


def _apply(target: str, module: "Any") -> None:
    """Runs the patch ``target`` on the freshly imported ``module`` (passed in: while its
    import finishes, ``import a.b`` could still see the parent package half-initialized)."""
    if target in _applied:
        return
    _applied.add(target)
    patch_module, function = target.split(":")
    try:
        name = f"{__name__}.{patch_module}"
        __import__(name)
        patcher = sys.modules[name]
        getattr(patcher, function)(module)
    except Exception as problem:  # noqa: BLE001 - a patch must never break the import
        from .._log import warn

        warn(f"patch {target} failed: {problem!r}")


def _after_import(name: str, module: "Any") -> None:
    for target in _waiting.pop(name, ()):
        _apply(target, module)


class _PatchingLoader:
    """Runs the real loader, then the patches waiting for the module."""

    def __init__(self, loader: "Any", name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: "Any") -> "Any":
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: "Any") -> None:
        self._loader.exec_module(module)
        _after_import(self._name, module)

    def __getattr__(self, attr: str) -> "Any":
        return getattr(self._loader, attr)


class _Finder:
    """Watches imports of the modules patches wait for; one dict lookup per other import."""

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if name not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find: Optional[Callable[..., Any]] = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, name)
        return spec

    def invalidate_caches(self) -> None:
        pass


def _install_finder() -> None:
    global _finder_installed
    if not _finder_installed:
        _finder_installed = True
        sys.meta_path.insert(0, _Finder())
