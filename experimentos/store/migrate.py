"""Alembic migrations of the history store, runnable from an installed package and any directory.

By hand::

    python -m experimentos.store upgrade [--database-url URL]     # DATABASE_URL or SQLite default
    python -m experimentos.store current | history | downgrade REV

or with Alembic's own command line (``DATABASE_URL`` or ``-x url=…`` names the database)::

    alembic -c "$(python -m experimentos.store ini)" upgrade head
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from experimentos.store.engine import WRITE_OPTIONS, create_engine_from_url, normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = MIGRATIONS_DIR / "alembic.ini"
T = TypeVar("T")
_IN_PROCESS = threading.Lock()
"""Alembic keeps its running context in module globals: one migration at a time per process."""


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's Config for the packaged migrations (``script_location`` is absolute)."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        # Kept out of the ini options: ConfigParser would read '%' in a password as interpolation.
        config.attributes["database_url"] = normalize_database_url(database_url)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema on ``engine`` in one transaction (a failed step leaves it unchanged).

    Concurrent callers queue: PostgreSQL takes an advisory lock in env.py, SQLite's write lock is
    taken at BEGIN.
    """
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, command.downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _run(engine: AsyncEngine, action: Any, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    async with _one_at_a_time(), engine.execution_options(**WRITE_OPTIONS).begin() as connection:
        await connection.run_sync(run)


@asynccontextmanager
async def _one_at_a_time() -> AsyncIterator[None]:
    # Polling keeps the event loop free and is safe to cancel, whichever loop or thread waits.
    while not _IN_PROCESS.acquire(blocking=False):  # noqa: ASYNC110 - no Event spans loops
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        _IN_PROCESS.release()


def upgrade_to_head(database_url: str | None = None, **engine_options: Any) -> str:
    """Upgrade the database at ``database_url`` (None: ``DATABASE_URL`` or the SQLite default) to
    the newest schema and return its revision. Synchronous; safe to call while an event loop runs
    in this thread (the work then runs in a helper thread)."""

    async def main() -> str:
        engine = create_engine_from_url(database_url, poolclass=NullPool, **engine_options)
        try:
            await upgrade(engine)
            revision = await current_revision(engine)
        finally:
            await engine.dispose()
        assert revision is not None
        return revision

    return run_sync(main())


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code, inside a running loop or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="experimentos-migrate") as pool:
        return pool.submit(asyncio.run, coroutine).result()
