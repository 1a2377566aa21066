"""Database URLs as users and hosting platforms write them, and SQLite's connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import POSTGRES_SKIP, TEST_DATABASE_URL

from experimentos.store import (
    DEFAULT_DATABASE_URL,
    create_engine_from_url,
    database_url_from_env,
    normalize_database_url,
    redact_database_url,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, DEFAULT_DATABASE_URL),
        ("  ", DEFAULT_DATABASE_URL),
        (
            "postgres://u:p@db.example.com:5432/app",
            "postgresql+asyncpg://u:p@db.example.com:5432/app",
        ),
        ("postgresql://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgres://u:p@db/app?sslmode=require", "postgresql+asyncpg://u:p@db/app?ssl=require"),
        ("postgres://u:p%40ss@db/app", "postgresql+asyncpg://u:p%40ss@db/app"),
        ("sqlite:///history.db", "sqlite+aiosqlite:///history.db"),
        ("sqlite+aiosqlite:////var/data/h.db", "sqlite+aiosqlite:////var/data/h.db"),
    ],
)
def test_normalize_database_url(given: str | None, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("mysql://u@db/app", "'mysql'"),
        ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_urls_say_what_is_supported(given: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="database URL") as raised:
        normalize_database_url(given)
    assert complaint in str(raised.value)


def test_url_from_environment_and_redaction() -> None:
    assert database_url_from_env({}) == DEFAULT_DATABASE_URL
    url = database_url_from_env({"DATABASE_URL": "postgres://bot:s3cret@db/app"})
    assert url == "postgresql+asyncpg://bot:s3cret@db/app"
    assert "s3cret" not in redact_database_url(url)


async def test_sqlite_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        async with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert (await pragma("PRAGMA journal_mode")).scalar() == "wal"
            assert (await pragma("PRAGMA busy_timeout")).scalar() == 30_000
            assert (await pragma("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL, reason=POSTGRES_SKIP)
async def test_platform_style_postgres_url_connects() -> None:
    platform_url = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgres://", 1)
    engine = create_engine_from_url(platform_url)
    try:
        assert engine.dialect.driver == "asyncpg"
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await engine.dispose()
