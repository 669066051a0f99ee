"""sqlite3: a ``remote`` subsegment with an ``sql`` block per ``execute``/``executemany``/
``executescript``, on connections made by ``sqlite3.connect`` (a ``Connection`` subclass,
so ``isinstance`` checks still hold)."""

from __future__ import annotations

import os
import sys

from .. import _capture, _errors
from ..context import _current
from . import _http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, Dict, Optional

_factories: Dict[type, type] = {}


def _database(target: Any) -> str:
    text = os.fspath(target) if not isinstance(target, (str, bytes)) else target
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)


def _traced(cursor: Any, method: Any, sql: Any, *args: Any) -> Any:
    conn = getattr(cursor, "connection", None)
    meta = getattr(conn, "_oxray_meta", None)
    entity = _http.parent() if meta is not None and _capture._ENABLED else None
    if entity is None:
        return method(cursor, sql, *args)
    sub = entity.begin_subsegment(meta["name"])
    if sub.sampled:
        sub.set_namespace("remote")
        sub.set_sql(
            url=meta.get("url"),
            sanitized_query=str(sql) if _stream_sql() else None,
            database_type="sqlite3",
            database_version=meta["version"],
            driver_version=meta["driver"],
            preparation="statement",
        )
    token = _current.set(sub)
    try:
        result = method(cursor, sql, *args)
    except BaseException as exc:
        _errors.record(sub, exc)
        sub.end()
        raise
    finally:
        _current.reset(token)
    sub.end()
    return result


def _stream_sql() -> bool:
    try:
        from ..recorder import xray_recorder

        return bool(xray_recorder.stream_sql)
    except Exception:  # noqa: BLE001
        return True


def _cursor_class(base: type) -> type:
    cls = _factories.get(base)
    if cls is None:

        class TracedCursor(base):  # type: ignore[valid-type, misc]
            def execute(self, sql: Any, *args: Any) -> Any:
                return _traced(self, base.execute, sql, *args)

            def executemany(self, sql: Any, *args: Any) -> Any:
                return _traced(self, base.executemany, sql, *args)

            def executescript(self, sql: Any) -> Any:
                return _traced(self, base.executescript, sql)

        TracedCursor.__name__ = TracedCursor.__qualname__ = f"Traced{base.__name__}"
        cls = _factories[base] = TracedCursor
    return cls


def _connection_class(base: type) -> type:
    cls = _factories.get(base)
    if cls is None:
        import sqlite3

        class TracedConnection(base):  # type: ignore[valid-type, misc]
            def cursor(self, factory: Any = sqlite3.Cursor) -> Any:
                return base.cursor(self, _cursor_class(factory))

            def execute(self, sql: Any, *args: Any) -> Any:
                return self.cursor().execute(sql, *args)

            def executemany(self, sql: Any, *args: Any) -> Any:
                return self.cursor().executemany(sql, *args)

            def executescript(self, sql: Any) -> Any:
                return self.cursor().executescript(sql)

        TracedConnection.__name__ = TracedConnection.__qualname__ = f"Traced{base.__name__}"
        cls = _factories[base] = TracedConnection
    return cls


def patch(sqlite3: Any) -> None:
    original = sqlite3.connect
    if getattr(original, "__oxray__", False):
        return

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        factory = kwargs.pop("factory", None) or sqlite3.Connection
        try:
            traced_factory: Optional[type] = _connection_class(factory)
        except TypeError:
            traced_factory = None  # a factory that cannot be subclassed: leave it untraced
        conn = original(database, *args, factory=traced_factory or factory, **kwargs)
        if traced_factory is not None:
            name = _database(database)
            base = os.path.basename(name) if name not in ("", ":memory:") else "memory"
            meta = {
                "name": base or "sqlite3",
                "version": sqlite3.sqlite_version,
                "driver": "%d.%d.%d" % sys.version_info[:3],
            }
            if name not in ("", ":memory:") and not name.startswith("file:"):
                meta["url"] = "sqlite://localhost/" + os.path.abspath(name).lstrip("/")
            try:
                conn._oxray_meta = meta
            except AttributeError:
                pass
        return conn

    connect.__oxray__ = True  # type: ignore[attr-defined]
    connect.__wrapped__ = original  # type: ignore[attr-defined]
    sqlite3.connect = connect
    dbapi2 = getattr(sqlite3, "dbapi2", None)
    if dbapi2 is not None:
        dbapi2.connect = connect
