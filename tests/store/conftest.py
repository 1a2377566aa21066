"""Store fixtures: every test runs on a fresh SQLite file, and on PostgreSQL when
TEST_DATABASE_URL is set (each test in its own schema, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from store_helpers import POSTGRES_SKIP, TEST_DATABASE_URL, Database

from experimentos.store import HistoryStore, create_engine_from_url, upgrade

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not TEST_DATABASE_URL, reason=POSTGRES_SKIP),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
        return
    schema = f"store_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine_from_url(TEST_DATABASE_URL)
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(
            "postgresql",
            TEST_DATABASE_URL,
            {"server_settings": {"search_path": schema}},
            schema,
        )
    finally:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty database (no tables yet)."""
    engine = database.engine()
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(database: Database) -> AsyncIterator[HistoryStore]:
    """A HistoryStore on a database upgraded to the newest schema."""
    engine = database.engine()
    await upgrade(engine)
    async with HistoryStore(engine, owns_engine=True) as history:
        yield history
