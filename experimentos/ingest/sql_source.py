"""A warehouse query → ``StatsTable``: the user-level rows stay in the database.

``read_query(url, query, …)`` checks that the query is one read-only SELECT (``sql_guard``), opens
a read-only transaction with a statement timeout, learns the columns' types from a sample of
:data:`sql_table.SAMPLE_ROWS` rows, and runs ``sql_aggregate``'s statements over the query as a
subquery: only one row per variant × segment and a few summary rows come back. ``read_parquet``
runs the same reader over Parquet files in an in-memory DuckDB.

URLs: ``postgresql://…`` (psycopg; ``postgres://`` and ``postgresql+asyncpg://`` are read the same)
and ``duckdb:///path.db`` (opened read-only). A failure is one :class:`SourceQueryError` line naming
the source, password hidden, and what the database said.

Session settings, inside the transaction only: on PostgreSQL, ``REPEATABLE READ`` (every statement
sees the same snapshot, so the raw-label summary and the analysis count the same rows) and
``jit = off`` (JIT compiling the analysis's aggregates cost 0.5-2.5 s and saved none at 10M rows).
A DuckDB source runs with ``enable_external_access = false`` and its configuration locked, so that
a query cannot read the machine's files (``read_csv('/etc/passwd')``, ``glob``, ``ATTACH``); the
Parquet path allows only the directory its pattern names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from experimentos.errors import ExperimentError
from experimentos.ingest.sql_guard import checked_query
from experimentos.ingest.sql_table import stats_table
from experimentos.ingest.stats_table import StatsTable
from experimentos.model import Options, SourceInfo, Thresholds

DEFAULT_TIMEOUT_SECONDS = 60.0
_DRIVERS = {"postgresql": "postgresql+psycopg", "duckdb": "duckdb"}


class SourceQueryError(ExperimentError):
    """The source cannot be reached or the query failed: one line, the source named."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    table: StatsTable
    rows_fetched: int
    """Rows that came back to Python over every statement (the sample included)."""


def read_query(
    url: str,
    query: str,
    *,
    options: Options,
    thresholds: Thresholds,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    source_name: str | None = None,
) -> StatsTable:
    """The per-variant (× segment) statistics of a user-level query, computed in the database.

    Raises QueryRefused (``sql_guard``) before connecting, SourceQueryError when the source fails.
    """
    return run_query(
        url,
        query,
        options=options,
        thresholds=thresholds,
        timeout_seconds=timeout_seconds,
        source_name=source_name,
    ).table


def run_query(
    url: str,
    query: str,
    *,
    options: Options,
    thresholds: Thresholds,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    source_name: str | None = None,
    readable: str | None = None,
) -> QueryResult:
    """:func:`read_query`, with the number of rows that came back. ``readable``: the one
    directory a DuckDB source may read files from (the Parquet path's), none otherwise."""
    shown = redacted(url)
    parsed = _engine_url(url, shown)
    backend = parsed.get_backend_name()
    text = checked_query(query, backend=backend)
    digest = hashlib.sha256(text.encode()).hexdigest()
    name = source_name or f"query on {shown}"
    source = SourceInfo(name, digest, rows=0, input_format="user_level", size_bytes=0)
    fetched = 0

    def fetch(statement: sa.Select[Any]) -> list[dict[str, Any]]:
        nonlocal fetched
        rows = [dict(r) for r in conn.execute(statement).mappings()]
        fetched += len(rows)
        return rows

    with (
        _failures(source_name or shown, timeout_seconds),
        _connection(parsed, timeout_seconds, readable) as conn,
    ):
        columns = _columns(conn, text)
        table = stats_table(
            fetch,
            text,
            columns,
            source=source,
            options=options,
            thresholds=thresholds,
            postgresql=backend == "postgresql",
        )
    return QueryResult(table, fetched)


def _columns(conn: Connection, text: str) -> list[str]:
    """The query's result columns as named by the database (no row is fetched)."""
    wrapped = sa.text(f"SELECT * FROM ({text.replace(':', chr(92) + ':')}\n) AS src LIMIT 0")
    return list(conn.execute(wrapped).keys())


def read_parquet(
    pattern: str, *, options: Options, thresholds: Thresholds, source_name: str | None = None
) -> StatsTable:
    """User-level Parquet files (a path or a glob) read by DuckDB where they lie."""
    quoted = "'" + pattern.replace("'", "''") + "'"
    return run_query(
        "duckdb:///:memory:",
        f"SELECT * FROM read_parquet({quoted})",
        options=options,
        thresholds=thresholds,
        source_name=source_name or pattern,
        readable=_directory(pattern),
    ).table


def _directory(pattern: str) -> str:
    """The directory a path or glob names files under: its part before the first wildcard."""
    fixed = re.split(r"[*?\[{]", pattern, maxsplit=1)[0]
    head = fixed if fixed.endswith(("/", os.sep)) else os.path.dirname(fixed)
    return os.path.abspath(head or ".")


def redacted(url: str) -> str:
    """The URL with its password shown as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unreadable database URL"


def _engine_url(url: str, shown: str) -> sa.URL:
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    except ArgumentError:
        raise SourceQueryError(
            f"{shown}: not a database URL (e.g. postgresql://host/db)."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise SourceQueryError(
            f"{shown}: {backend} sources are not supported in this build; use postgresql://… or "
            "duckdb:///file.db (README: BigQuery, Snowflake, Trino and other warehouses)."
        )
    return parsed.set(drivername=_DRIVERS[backend])


@contextmanager
def _connection(
    url: sa.URL, timeout_seconds: float, readable: str | None = None
) -> Iterator[Connection]:
    """A read-only transaction with a statement timeout, rolled back at the end."""
    memory = url.database in (None, "", ":memory:")
    args = {"read_only": True} if url.get_backend_name() == "duckdb" and not memory else {}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                milliseconds = max(1, round(timeout_seconds * 1000))
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
                conn.exec_driver_sql("SET LOCAL jit = off")
                yield conn
            else:  # DuckDB has no statement timeout: the query is interrupted from a timer
                raw = conn.connection.dbapi_connection
                if readable is not None:
                    raw.execute("SET allowed_directories = [?]", [readable])
                raw.execute("SET enable_external_access = false")
                raw.execute("SET lock_configuration = true")
                timer = threading.Timer(timeout_seconds, _interrupt, (raw,))
                timer.start()
                try:
                    yield conn
                finally:
                    timer.cancel()
            conn.rollback()
    finally:
        engine.dispose()


def _interrupt(raw: Any) -> None:
    with contextlib.suppress(Exception):  # the query ended meanwhile
        raw.interrupt()


@contextmanager
def _failures(shown: str, timeout_seconds: float) -> Iterator[None]:
    """Any failure of the driver or the database as one SourceQueryError line."""
    try:
        yield
    except ExperimentError:
        raise
    except (SQLAlchemyError, OSError, RuntimeError) as error:
        reason = _reason(error)
        if "statement timeout" in reason or "interrupt" in reason.casefold():
            reason += f" (the timeout is {timeout_seconds:g} s)"
        raise SourceQueryError(f"the query on {shown} failed: {reason}") from None


def _reason(error: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's class prefixes."""
    source = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(source).__name__
