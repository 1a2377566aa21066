"""Alembic migrations: an empty database, the previous schema with data in it, concurrent starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from store_helpers import ROOT, Database, analysis_fields, finish

from experimentos.store import (
    HistoryStore,
    current_revision,
    head_revision,
    upgrade,
    upgrade_to_head,
)
from experimentos.store.migrate import downgrade
from experimentos.store.tables import Base

TABLES = {"team_counters", "experiments", "analyses", "decisions", "processed_events"}


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_an_empty_database(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    await upgrade(engine)
    assert await current_revision(engine) == head_revision() == "0006"
    assert await table_names(engine) >= TABLES
    await upgrade(engine)  # a second start changes nothing
    assert await current_revision(engine) == "0006"


async def test_migrated_schema_matches_the_orm_tables(engine: AsyncEngine) -> None:
    await upgrade(engine)

    def differences(sync_connection: object) -> list[object]:
        context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_upgrade_from_the_previous_revision_keeps_the_data(engine: AsyncEngine) -> None:
    await upgrade(engine, "0001")
    assert "processed_events" not in await table_names(engine)
    now = "2024-11-20 10:00:00+00:00"
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO team_counters (team_id, last_experiment_number) VALUES ('T1', 1)"
        )
        await connection.exec_driver_sql(
            "INSERT INTO experiments (id, team_id, number, channel_id, thread_ts, name, guardrails,"
            " status, look_count, created_at, updated_at, charter_changes) VALUES (1, 'T1', 1,"
            f" 'C1', '100.1', 'Old one', '[]', 'running', 1, '{now}', '{now}', '[]')"
        )
        await connection.exec_driver_sql(
            "INSERT INTO analyses (id, team_id, experiment_id, look, file_name, checksum,"
            " health_status, verdict_kind, verdict_reason, result, created_at) VALUES (1, 'T1', 1,"
            f" 1, 'old.csv', 'cafe', 'healthy', 'hold', 'Not significant.', '{{\"k\": [1, null]}}',"
            f" '{now}')"
        )
        if connection.dialect.name == "postgresql":  # explicit ids leave the sequences behind
            for table in ("experiments", "analyses"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1)"
                )

    await upgrade(engine)

    assert await current_revision(engine) == "0006"
    store = HistoryStore(engine)
    old = await store.find_experiment_by_thread("T1", "C1", "100.1")
    assert old is not None and old.ref == "EXP-1" and old.name == "Old one"
    assert old.charter.method is None  # decided by the plan, as before the column existed
    [look_one] = await store.analyses_for("T1", old.id)
    assert look_one.result == {"k": [1, None]} and look_one.event_key is None
    assert await store.claim_event("T1", "T1:F1:1.0")
    look_two = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="100.1", event_key="T1:F1:1.0", **analysis_fields()
    )
    assert (look_two.experiment_id, look_two.look) == (old.id, 2)
    new = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="200.1", **analysis_fields("New one")
    )
    assert (await store.get_experiment_by_id("T1", new.experiment_id)).ref == "EXP-2"


async def test_downgrade_then_upgrade_again(engine: AsyncEngine) -> None:
    await upgrade(engine)
    store = HistoryStore(engine)
    await store.record_analysis(team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields())
    await downgrade(engine, "0001")
    assert await current_revision(engine) == "0001"
    assert "processed_events" not in await table_names(engine)
    await upgrade(engine)
    [summary] = await store.list_experiments("T1")
    assert summary.latest is not None and summary.latest.look == 1


@pytest.mark.slow
def test_processes_starting_together_migrate_once(database: Database) -> None:
    workers = database.start_workers("upgrade", count=3)
    results = [finish(w) for w in workers]
    assert [(code, out.strip()) for code, out, _ in results] == [(0, "0006")] * 3, results


async def test_concurrent_upgrades_in_one_process(database: Database) -> None:
    engines = [database.engine() for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert {await current_revision(e) for e in engines} == {"0006"}
    finally:
        for e in engines:
            await e.dispose()


async def test_upgrade_to_head_is_safe_inside_a_running_loop(database: Database) -> None:
    # The bot may call the synchronous helper from async start-up code.
    assert upgrade_to_head(database.url, connect_args=database.connect_args) == "0006"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_documented_command_from_another_directory(database: Database, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "DATABASE_URL": database.url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "experimentos.store"]
    up = subprocess.run(
        [*command, "upgrade"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    assert "(empty) → 0006" in up.stdout
    now = subprocess.run(
        [*command, "current"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert "revision 0006; newest is 0006" in now.stdout
    bad = subprocess.run(
        [*command, "--database-url", "mysql://x/y", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        bad.returncode == 2 and "sqlite+aiosqlite" in bad.stderr and "Traceback" not in bad.stderr
    )
    assert list(elsewhere.iterdir()) == []  # nothing written where the command ran


async def test_downgrading_the_saved_source_keeps_looks_and_decisions(engine: AsyncEngine) -> None:
    from experimentos.charter import Charter

    await upgrade(engine)
    store = HistoryStore(engine)
    look = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
    )
    charter = Charter(
        "Saved",
        source_env="WAREHOUSE_URL",
        source_query="SELECT 1",
        refresh_schedule="weekdays 09:00",
    )
    await store.update_charter("T1", look.experiment_id, charter, by="U1")
    saved = await store.get_experiment_by_id("T1", look.experiment_id)
    assert (saved.charter.source_env, saved.charter.source_query) == ("WAREHOUSE_URL", "SELECT 1")
    assert saved.charter.refresh_schedule == "weekdays 09:00"
    platform = Charter("Pulled", source_platform="growthbook:exp_1", refresh_schedule="daily 09:00")
    await store.update_charter("T1", look.experiment_id, platform, by="U1")
    pulled = await store.get_experiment_by_id("T1", look.experiment_id)
    assert (pulled.charter.source_platform, pulled.charter.source_env) == ("growthbook:exp_1", None)
    assert pulled.charter.refresh_schedule == "daily 09:00"
    await downgrade(engine, "0003")

    def columns(sync: object) -> set[str]:
        return {c["name"] for c in inspect(sync).get_columns("experiments")}

    async with engine.connect() as connection:
        gone = {"source_env", "source_query", "refresh_schedule", "source_platform"}
        assert not gone & await connection.run_sync(columns)
        assert "scheduled_runs" not in await connection.run_sync(
            lambda sync: inspect(sync).get_table_names()
        )
        kept = await connection.exec_driver_sql("SELECT count(*) FROM analyses")
        assert kept.scalar_one() == 1  # no batch copy of `experiments` cascaded the looks away
    await upgrade(engine)
    [summary] = await store.list_experiments("T1")
    assert summary.latest is not None and summary.experiment.charter.source_env is None
