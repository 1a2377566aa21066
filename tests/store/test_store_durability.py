"""One transaction per analysis: a failure or a crash mid-way leaves no half record."""

from __future__ import annotations

from typing import Any

import pytest
from store_helpers import Database, analysis_fields, finish

from experimentos.store import HistoryStore, upgrade
from experimentos.store import look_queries as looks_module


async def counts(store: HistoryStore) -> dict[str, int]:
    async with store.engine.connect() as connection:
        result = {}
        for table in ("experiments", "analyses", "team_counters", "decisions"):
            count = await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")
            result[table] = count.scalar_one()
        return result


async def test_failure_after_the_experiment_insert_rolls_everything_back(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached = []

    async def fail_after_numbering(session: Any, **kwargs: Any) -> Any:
        row = await real_insert(session, **kwargs)  # experiment, look number, analysis flushed
        reached.append(row.look)
        raise RuntimeError("worker died between writing steps")

    real_insert = looks_module.insert_analysis
    monkeypatch.setattr(looks_module, "insert_analysis", fail_after_numbering)
    with pytest.raises(RuntimeError, match="between writing steps"):
        await store.record_analysis(
            team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
        )
    assert reached == [1]
    assert await counts(store) == {
        "experiments": 0,
        "analyses": 0,
        "team_counters": 0,
        "decisions": 0,
    }

    monkeypatch.undo()
    stored = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
    )
    experiment = await store.get_experiment_by_id("T1", stored.experiment_id)
    assert (experiment.ref, stored.look) == ("EXP-1", 1)  # no number or look was used up


async def test_failure_on_an_existing_experiment_keeps_its_look_count(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
    )

    async def fail(session: Any, **kwargs: Any) -> Any:
        await real_insert(session, **kwargs)
        raise KeyboardInterrupt  # even a BaseException rolls back

    real_insert = looks_module.insert_analysis
    monkeypatch.setattr(looks_module, "insert_analysis", fail)
    with pytest.raises(KeyboardInterrupt):
        await store.record_analysis(
            team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
        )
    monkeypatch.undo()
    assert [a.id for a in await store.analyses_for("T1", first.experiment_id)] == [first.id]
    assert (await store.get_experiment_by_id("T1", first.experiment_id)).look_count == 1
    second = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
    )
    assert second.look == 2


async def test_a_process_killed_before_commit_leaves_nothing(database: Database) -> None:
    engine = database.engine()
    await upgrade(engine)
    [worker] = database.start_workers("crash", count=1)
    code, out, err = finish(worker)
    assert (code, out.strip()) == (3, "flushed"), err
    async with HistoryStore(engine, owns_engine=True) as store:
        assert await counts(store) == {
            "experiments": 0,
            "analyses": 0,
            "team_counters": 0,
            "decisions": 0,
        }
        stored = await store.record_analysis(
            team_id="T1", channel_id="C1", thread_ts="100.1", **analysis_fields()
        )
        assert stored.look == 1
