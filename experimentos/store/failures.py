"""Database failures as one readable line: which store (password hidden) and what went wrong.

A corrupt SQLite file, a directory given as the database, an unwritable location, a PostgreSQL
server that does not answer or refuses the login all end as :class:`StoreUnavailable` with a
message like ``cannot write to sqlite+aiosqlite:///x.db: file is not a database``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from experimentos.store.engine import normalize_database_url, redact_database_url
from experimentos.store.errors import StoreError, StoreUnavailable
from experimentos.store.repository import HistoryStore

DATABASE_FAILURES = (SQLAlchemyError, OSError, CommandError)
"""What the drivers, SQLAlchemy and Alembic raise when a database cannot be used."""

_DRIVER_CLASS = re.compile(r"^<class '[\w.]+'>:\s*")
_SQLALCHEMY_PREFIX = re.compile(r"^\([\w.]+\)\s*")


def failure_reason(error: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's and asyncpg's class prefixes
    (``file is not a database``, ``connection refused (Connect call failed …)``)."""
    source: BaseException = error
    if isinstance(error, DBAPIError) and error.orig is not None:
        source = error.orig
    if isinstance(source, ConnectionRefusedError):
        detail = source.strerror or str(source)
        return f"connection refused ({detail})" if detail else "connection refused"
    text = source.strerror if isinstance(source, OSError) and source.strerror else str(source)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return type(source).__name__
    first = _SQLALCHEMY_PREFIX.sub("", _DRIVER_CLASS.sub("", lines[0]))
    return first or type(source).__name__


def unavailable(url: str, error: BaseException, *, doing: str) -> StoreUnavailable:
    """``StoreUnavailable("cannot <doing> <redacted url>: <reason>")``."""
    return StoreUnavailable(f"cannot {doing} {redact_database_url(url)}: {failure_reason(error)}")


@contextmanager
def reported_as_unavailable(url: str, *, doing: str) -> Iterator[None]:
    """Turn a database failure inside the block into :class:`StoreUnavailable` naming ``url``;
    the store's own errors (StoreError) pass through unchanged."""
    try:
        yield
    except StoreError:
        raise
    except DATABASE_FAILURES as error:
        raise unavailable(url, error, doing=doing) from error


async def open_store(url: str) -> HistoryStore:
    """``HistoryStore.open(url)`` (schema upgraded) for a caller that writes, its failures as
    StoreUnavailable naming the store; a SQLite location that cannot hold a database is refused
    before any connection is tried, with the reason."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        problem = sqlite_location_problem(path)
        if problem is not None:
            raise StoreUnavailable(f"cannot open {redact_database_url(url)}: {problem}")
    with reported_as_unavailable(url, doing="open"):
        return await HistoryStore.open(url)


def sqlite_location_problem(path: Path) -> str | None:
    """Why a SQLite database cannot be kept at ``path``, or None. Besides the file, SQLite creates
    its write-ahead log and shared-memory files in the same folder, so the folder must be
    writable too."""
    folder = path.parent
    if path.is_dir():
        return f"{path} is a directory, not a database file"
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not writable"
    return None
