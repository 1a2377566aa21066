"""What the bot needs beyond the basics: a look by id, a new experiment's charter, unbound threads."""

from __future__ import annotations

from store_helpers import analysis_fields

from experimentos.store import Charter, CharterGuardrail, HistoryStore


async def test_get_analysis_by_id_is_scoped_to_the_team(store: HistoryStore) -> None:
    stored = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields()
    )
    found = await store.get_analysis("T1", stored.id)
    assert found is not None and found.id == stored.id and found.result == stored.result
    assert await store.get_analysis("T2", stored.id) is None
    assert await store.get_analysis("T1", stored.id + 1000) is None


async def test_a_new_experiment_takes_the_given_charter_without_a_charter_change(
    store: HistoryStore,
) -> None:
    charter = Charter(
        name="Checkout v2",
        guardrails=(CharterGuardrail("guardrail_error", worsened_pp=0.2, severe_pp=0.4),),
        expected_split=(60.0, 40.0),
    )
    stored = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", charter=charter, **analysis_fields()
    )
    experiment = await store.get_experiment_by_id("T1", stored.experiment_id)
    assert experiment.charter == charter
    assert experiment.status == "running" and experiment.look_count == 1
    assert not experiment.charter_changes


async def test_bind_thread_false_leaves_the_thread_to_its_first_experiment(
    store: HistoryStore,
) -> None:
    first = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="1.1", **analysis_fields("A")
    )
    second = await store.record_analysis(
        team_id="T1",
        channel_id="C1",
        thread_ts="1.1",
        bind_thread=False,
        **analysis_fields("B"),
    )
    assert second.experiment_id != first.experiment_id
    assert second.thread_ts == "1.1"  # the analysis still knows where its card is
    owner = await store.find_experiment_by_thread("T1", "C1", "1.1")
    assert owner is not None and owner.id == first.experiment_id
    unbound = await store.get_experiment_by_id("T1", second.experiment_id)
    assert unbound.thread_ts is None and unbound.name == "B"
