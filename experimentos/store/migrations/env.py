"""Alembic environment: async engines, one transaction per run, a lock against concurrent runs.

A caller may hand over a connection (``config.attributes["connection"]``, see migrate.py);
otherwise the URL comes from ``config.attributes["database_url"]``, ``-x url=…``, ``DATABASE_URL``
or the SQLite default. Logging is left as the caller configured it.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from experimentos.store.engine import (
    WRITE_OPTIONS,
    create_engine_from_url,
    database_url_from_env,
    normalize_database_url,
)
from experimentos.store.tables import Base

MIGRATION_LOCK_ID = 0x45584F53  # "EXOS": pg_advisory_xact_lock key serialising migration runs

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "url"
    )
    return normalize_database_url(url) if url else database_url_from_env()


def run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine_from_url(database_url(), poolclass=NullPool)
    try:
        async with engine.execution_options(**WRITE_OPTIONS).begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_migrations(connection)
else:
    asyncio.run(run_online())
