"""A separate process using the store, for the crash and multi-process tests.

    python store_worker.py crash          # dies (os._exit) inside record_analysis before COMMIT
    python store_worker.py claim N        # claims events 0..N-1, records an analysis for each win
    python store_worker.py upgrade        # upgrades the schema to the newest revision

The database comes from STORE_TEST_URL (and STORE_TEST_SCHEMA for a PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import os
import sys

from store_helpers import analysis_fields

from experimentos.store import (
    HistoryStore,
    create_engine_from_url,
    current_revision,
    upgrade,
)
from experimentos.store import look_queries as looks


def open_store() -> HistoryStore:
    schema = os.environ.get("STORE_TEST_SCHEMA")
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    engine = create_engine_from_url(os.environ["STORE_TEST_URL"], connect_args=connect_args)
    return HistoryStore(engine, owns_engine=True)


async def crash() -> None:
    real_insert = looks.insert_analysis

    async def insert_then_die(session, **kwargs):  # type: ignore[no-untyped-def]
        await real_insert(session, **kwargs)  # experiment, look and analysis all flushed …
        await session.flush()
        print("flushed", flush=True)
        os._exit(3)  # … and the process dies before COMMIT

    looks.insert_analysis = insert_then_die  # type: ignore[assignment]
    store = open_store()
    await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="100.1", **analysis_fields("Doomed")
    )


async def claim(count: int) -> None:
    async with open_store() as store:
        won = 0
        for index in range(count):
            key = f"T1:F{index}:1700000000.{index:06d}"
            if await store.claim_event("T1", key):
                won += 1
                await store.record_analysis(
                    team_id="T1",
                    channel_id="C1",
                    thread_ts="200.1",
                    event_key=key,
                    **analysis_fields("Shared thread", user_id=f"P{os.getpid()}"),
                )
        print(won, flush=True)


async def upgrade_schema() -> None:
    async with open_store() as store:
        await upgrade(store.engine)
        print(await current_revision(store.engine), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "crash":
        asyncio.run(crash())
    elif sys.argv[1] == "upgrade":
        asyncio.run(upgrade_schema())
    else:
        asyncio.run(claim(int(sys.argv[2])))
