"""Concurrent writers lose nothing; one Slack event is claimed once across processes."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import Database, analysis_fields, finish

from experimentos.store import Charter, HistoryStore

WRITERS = 50


async def test_fifty_writers_on_one_experiment(store: HistoryStore) -> None:
    created = await store.create_experiment(
        team_id="T1", channel_id="C1", charter=Charter(name="Busy"), thread_ts="1.1"
    )
    stored = await asyncio.gather(
        *(
            store.record_analysis(
                team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields(user_id=f"U{i}")
            )
            for i in range(WRITERS)
        )
    )
    assert {a.experiment_id for a in stored} == {created.id}
    assert sorted(a.look for a in stored) == list(range(1, WRITERS + 1))
    looks = await store.analyses_for("T1", created.id)
    assert [a.look for a in looks] == list(range(1, WRITERS + 1))
    assert {a.user_id for a in looks} == {f"U{i}" for i in range(WRITERS)}
    assert (await store.get_experiment_by_id("T1", created.id)).look_count == WRITERS


async def test_fifty_writers_racing_to_create_one_thread(store: HistoryStore) -> None:
    stored = await asyncio.gather(
        *(
            store.record_analysis(
                team_id="T1", channel_id="C1", thread_ts="2.1", **analysis_fields("Race")
            )
            for _ in range(WRITERS)
        )
    )
    assert len({a.experiment_id for a in stored}) == 1
    assert sorted(a.look for a in stored) == list(range(1, WRITERS + 1))
    [summary] = await store.list_experiments("T1")
    assert (summary.experiment.ref, summary.experiment.look_count) == ("EXP-1", WRITERS)


async def test_fifty_writers_on_fifty_experiments(store: HistoryStore) -> None:
    stored = await asyncio.gather(
        *(
            store.record_analysis(
                team_id="T1", channel_id="C1", thread_ts=f"{i}.1", **analysis_fields(f"E{i}")
            )
            for i in range(WRITERS)
        )
    )
    assert {a.look for a in stored} == {1}
    summaries = await store.list_experiments("T1", limit=100)
    assert len(summaries) == WRITERS
    assert sorted(s.experiment.number for s in summaries) == list(range(1, WRITERS + 1))
    assert {s.experiment.name for s in summaries} == {f"E{i}" for i in range(WRITERS)}


async def test_claim_event_from_two_engines(database: Database, store: HistoryStore) -> None:
    """Two engines stand for two bot processes sharing one database."""
    async with HistoryStore(database.engine(), owns_engine=True) as other_process:
        assert await store.claim_event("T1", "T1:F1:9.9") is True
        assert await other_process.claim_event("T1", "T1:F1:9.9") is False
        claims = await asyncio.gather(
            *(
                s.claim_event("T1", f"T1:F{i}:1.0")
                for i in range(20)
                for s in (store, other_process)
            )
        )
    assert sum(claims) == 20


@pytest.mark.slow
async def test_bot_processes_sharing_a_database_store_each_event_once(
    database: Database, store: HistoryStore
) -> None:
    events = 25
    workers = database.start_workers("claim", str(events), count=3)
    results = [await asyncio.to_thread(finish, w) for w in workers]
    assert all(code == 0 for code, _, _ in results), results
    assert sum(int(out) for _, out, _ in results) == events
    experiment = await store.find_experiment_by_thread("T1", "C1", "200.1")
    assert experiment is not None
    looks = [(a.look, a.event_key) for a in await store.analyses_for("T1", experiment.id)]
    assert [look for look, _ in looks] == list(range(1, events + 1))
    assert len({key for _, key in looks}) == events
