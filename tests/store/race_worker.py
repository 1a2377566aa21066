"""A bot process racing others to store the analysis of one Slack event.

    python race_worker.py EVENT_KEY EXPERIMENT_ID

Opens the store and its connection, prints ``ready``, waits for a line on stdin (the starting
gun, given to every worker at once), records an analysis of ``EVENT_KEY`` as a look of
``EXPERIMENT_ID`` without claiming the event first, and prints ``stored <look>`` or ``duplicate``.
The database comes from STORE_TEST_URL (and STORE_TEST_SCHEMA for a PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import os
import sys

from store_helpers import analysis_fields

from experimentos.store import DuplicateEventError, HistoryStore, create_engine_from_url


async def race(event_key: str, experiment_id: int) -> None:
    schema = os.environ.get("STORE_TEST_SCHEMA")
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    engine = create_engine_from_url(os.environ["STORE_TEST_URL"], connect_args=connect_args)
    async with HistoryStore(engine, owns_engine=True) as store:
        await store.get_experiment_by_id("T1", experiment_id)  # connected before the gun
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        try:
            record = await store.record_analysis(
                team_id="T1",
                channel_id="C1",
                experiment_id=experiment_id,
                event_key=event_key,
                **analysis_fields("Redelivered", user_id=f"P{os.getpid()}"),
            )
        except DuplicateEventError:
            print("duplicate", flush=True)
        else:
            print(f"stored {record.look}", flush=True)


if __name__ == "__main__":
    asyncio.run(race(sys.argv[1], int(sys.argv[2])))
