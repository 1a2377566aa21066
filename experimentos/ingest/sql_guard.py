"""A warehouse query is accepted only when it is one read-only statement: a SELECT (or WITH …
SELECT, or a UNION of SELECTs) that writes nothing.

The text is parsed with sqlglot in the database's dialect; anything that is not a single query —
``;``-chained statements, INSERT/UPDATE/DELETE/MERGE, DDL, COPY, SET, SELECT … INTO, a data-modifying
WITH (``WITH d AS (DELETE … RETURNING *) SELECT …``) — is refused before a connection is opened.
On PostgreSQL, a query that calls a function reading the server's files or reaching other
servers (``pg_read_file``, ``pg_ls_dir``, ``lo_import``, ``dblink…``; :data:`_SERVER_FUNCTIONS`) is
refused too: a read-only transaction does not stop them, only the database role's privileges do.
The read-only transaction the query then runs in (``sql_source``) is the second lock.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from experimentos.errors import ExperimentError

_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.Into,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Use,
    exp.LoadData,
)
_SERVER_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_ls_dir",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_ls_logicalsnapdir",
        "pg_ls_logicalmapdir",
        "pg_ls_replslotdir",
        "lo_import",
        "lo_export",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
    }
)
"""PostgreSQL functions that read or write the server's files; with ``dblink…`` (other servers)."""
_DIALECTS = {"postgresql": "postgres", "duckdb": "duckdb", "sqlite": "sqlite"}


class QueryRefused(ExperimentError):
    """The query is not a single read-only SELECT (the message says what it is instead)."""


def checked_query(query: str, *, backend: str) -> str:
    """``query`` without a trailing ``;``, once it is known to be one read-only SELECT/WITH.

    ``backend`` is SQLAlchemy's backend name (``postgresql``, ``duckdb``); raises QueryRefused.
    """
    text = query.strip().rstrip(";").strip()
    if not text:
        raise QueryRefused("the query is empty: give one SELECT statement.")
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns before a Command fallback
    try:
        statements = [s for s in sqlglot.parse(text, read=_DIALECTS.get(backend)) if s]
    except SqlglotError as error:
        first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise QueryRefused(f"the query cannot be parsed as SQL ({first}).") from None
    if len(statements) != 1:
        raise QueryRefused(
            f"the query holds {len(statements)} statements; give exactly one SELECT "
            "(no ';' between statements)."
        )
    (statement,) = statements
    if not isinstance(statement, exp.Query):
        what = statement.key.upper() if statement.key != "command" else "a command"
        raise QueryRefused(f"only a SELECT (or WITH … SELECT) is run, not {what}.")
    writes = next(iter(statement.find_all(*_WRITES)), None)
    if writes is not None:
        what = "SELECT … INTO" if isinstance(writes, exp.Into) else writes.key.upper()
        raise QueryRefused(f"the query must only read, and it holds {what}.")
    if backend == "postgresql" and (called := _server_function(statement)):
        raise QueryRefused(
            f"the query calls {called}(), which reads the database server's files or reaches "
            "another server; only the tables' rows may be read."
        )
    return text


def _server_function(statement: exp.Expression) -> str | None:
    """The first function the statement calls that reads files or reaches other servers."""
    for call in statement.find_all(exp.Func):
        name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).lower()
        if name in _SERVER_FUNCTIONS or name.startswith("dblink"):
            return name
    return None
