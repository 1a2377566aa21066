"""Database URLs and engines: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when named.

SQLite gets write-ahead logging (readers never wait for the writer), a busy timeout (a second writer
waits instead of failing with "database is locked") and SQLAlchemy-controlled ``BEGIN`` statements,
so that a writing transaction can take the write lock up front (``BEGIN IMMEDIATE``) instead of
failing when it upgrades from a read lock while another writer holds the lock.
"""

from __future__ import annotations

import json
import os
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///experimentos.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_OPTIONS: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
"""Execution options for a writing transaction; only the SQLite engine reads them."""

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_BACKEND_ALIASES = {"postgres": "postgresql", "postgresql": "postgresql", "sqlite": "sqlite"}


def database_url_from_env(environ: dict[str, str] | None = None) -> str:
    """``DATABASE_URL`` from the environment (normalized), else the SQLite default."""
    env = os.environ if environ is None else environ
    return normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def normalize_database_url(url: str | URL | None) -> str:
    """The async SQLAlchemy URL for a database URL as users and hosting platforms write it.

    ``postgres://`` and ``postgresql://`` (Heroku, Render, Fly…) become ``postgresql+asyncpg://``;
    libpq's ``sslmode=`` query parameter becomes asyncpg's ``ssl=``; bare ``sqlite://`` becomes
    ``sqlite+aiosqlite://``. Empty means the default. Raises ValueError for other databases or for
    a synchronous driver, naming what is supported.
    """
    text = str(url).strip() if url is not None else ""
    if not text:
        return DEFAULT_DATABASE_URL
    try:
        parsed = make_url(text)
    except Exception as error:  # ArgumentError and ValueError alike
        raise ValueError(f"not a database URL ({error})") from None
    backend_name, _, driver = parsed.drivername.partition("+")
    backend = _BACKEND_ALIASES.get(backend_name)
    if backend is None:
        raise ValueError(
            f"the database URL names {backend_name!r}; "
            "ExperimentOS supports sqlite+aiosqlite:// and postgresql+asyncpg:// (or postgres://)."
        )
    wanted = _ASYNC_DRIVERS[backend]
    if driver and driver != wanted:
        raise ValueError(
            f"the database URL uses the driver {driver!r}; ExperimentOS needs {backend}+{wanted}://."
        )
    parsed = parsed.set(drivername=f"{backend}+{wanted}")
    if backend == "postgresql" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query.setdefault("ssl", query.pop("sslmode"))
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def redact_database_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # never let logging fail
        return "<unparseable database URL>"


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    if isinstance(engine_or_url, AsyncEngine):
        return engine_or_url.dialect.name == "sqlite"
    return make_url(normalize_database_url(engine_or_url)).get_backend_name() == "sqlite"


def create_engine_from_url(
    url: str | URL | None = None,
    *,
    connect_args: dict[str, Any] | None = None,
    echo: bool = False,
    **engine_options: Any,
) -> AsyncEngine:
    """An AsyncEngine for ``url`` (normalized; None means ``DATABASE_URL`` or the default).

    ``connect_args`` go to the driver (e.g. ``{"server_settings": {"search_path": "s1"}}`` for
    asyncpg); ``engine_options`` to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    JSON columns reject NaN and infinities (``Analysis.to_dict()`` already writes them as null).
    """
    normalized = database_url_from_env() if url is None else normalize_database_url(url)
    args = dict(connect_args or {})
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": partial(json.dumps, allow_nan=False),
        **engine_options,
    }
    sqlite = make_url(normalized).get_backend_name() == "sqlite"
    if sqlite:
        args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    else:
        options.setdefault("pool_pre_ping", True)
    engine = create_async_engine(normalized, connect_args=args, **options)
    if sqlite:
        _configure_sqlite(engine, busy_timeout_s=float(args["timeout"]))
    return engine


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_s: float) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN (see _on_begin) instead of the sqlite3 module's legacy mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if _is_file_database(engine.url):
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}:
            raise ValueError(f"unknown sqlite_begin mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _is_file_database(url: URL) -> bool:
    database = url.database or ""
    return database not in {"", ":memory:"} and "mode=memory" not in str(url)
