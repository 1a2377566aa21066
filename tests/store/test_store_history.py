"""The repository: round trips, scoping, numbering, charter lock, decisions, listings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from store_helpers import Database, analysis_fields, make_result

from experimentos.store import (
    Charter,
    CharterGuardrail,
    DecisionReasonRequired,
    DuplicateEventError,
    ExperimentNotFound,
    HistoryStore,
    Rice,
    ThreadTaken,
    fields_from_analysis,
    upgrade,
)

CHARTER = Charter(
    name="Checkout v2",
    owner="U_OWNER",
    hypothesis="A shorter checkout lifts conversion",
    target_segment="new users",
    primary_metric="conversion",
    guardrails=(
        CharterGuardrail("guardrail_refund", worsened_pp=0.2, severe_pp=0.5),
        CharterGuardrail("checkout_rate", higher_is_better=True, margin_rel=0.01),
    ),
    expected_split=(50.0, 50.0),
    planned_looks=3,
    target_sample_size=40_000,
    start_date=date(2024, 11, 1),
    end_date=date(2024, 11, 30),
    rice=Rice(reach=20_000, impact=2, confidence=0.8, effort=4),
    method="always-valid",
)


async def record(store: HistoryStore, thread: str = "100.1", **kwargs: object):  # type: ignore[no-untyped-def]
    team, channel = kwargs.pop("team_id", "T1"), kwargs.pop("channel_id", "C1")
    name = str(kwargs.pop("name", "Checkout v2"))
    return await store.record_analysis(
        team_id=team, channel_id=channel, thread_ts=thread, **analysis_fields(name, **kwargs)
    )


async def test_charter_and_analysis_round_trip(store: HistoryStore) -> None:
    created = await store.create_experiment(
        team_id="T1", channel_id="C1", charter=CHARTER, created_by="U1", thread_ts="100.1"
    )
    assert (created.ref, created.status, created.look_count) == ("EXP-1", "proposed", 0)
    assert created.charter == CHARTER
    assert created.rice_score == pytest.approx(20_000 * 2 * 0.8 / 4)
    assert created.created_at.tzinfo is not None

    stored = await record(store, message_ts="100.2", event_key="T1:F1:100.2")
    assert stored.experiment_id == created.id and stored.look == 1

    [read] = await store.analyses_for("T1", created.id)
    assert read == stored
    assert read.result == make_result()  # nested JSON intact, unicode and nulls included
    assert read.memo_markdown == "# Checkout v2\n\n**Launch**"
    assert (read.channel_id, read.thread_ts, read.message_ts) == ("C1", "100.1", "100.2")
    assert await store.latest_analysis("T1", created.id) == stored
    experiment = await store.get_experiment_by_id("T1", created.id)
    assert (experiment.status, experiment.look_count) == ("running", 1)


async def test_result_is_a_copy_of_what_was_given(store: HistoryStore) -> None:
    fields = analysis_fields()
    stored = await store.record_analysis(team_id="T1", channel_id="C1", thread_ts="1.1", **fields)
    fields["result_json"]["verdict"]["kind"] = "mutated"
    assert stored.result["verdict"]["kind"] == "launch"


async def test_nan_in_result_is_refused_before_writing(store: HistoryStore) -> None:
    fields = analysis_fields()
    fields["result_json"]["primary"][0]["p_value_adjusted"] = float("nan")
    with pytest.raises(ValueError, match="JSON"):
        await store.record_analysis(team_id="T1", channel_id="C1", thread_ts="1.1", **fields)
    assert await store.list_experiments("T1") == []


async def test_vocabularies_are_checked(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="verdict_kind must be one of"):
        await record(store, verdict="ship it")
    with pytest.raises(ValueError, match="health_status must be one of"):
        await record(store, health="fine")
    assert await store.list_experiments("T1") == []


async def test_looks_are_numbered_per_experiment(store: HistoryStore) -> None:
    first = [await record(store, "100.1") for _ in range(3)]
    other = await record(store, "200.1", name="Pricing page")
    assert [a.look for a in first] == [1, 2, 3]
    assert other.look == 1 and other.experiment_id != first[0].experiment_id
    assert [a.look for a in await store.analyses_for("T1", first[0].experiment_id)] == [1, 2, 3]
    latest = await store.latest_analysis("T1", first[0].experiment_id)
    assert latest is not None and latest.id == first[-1].id


async def test_csv_without_charter_creates_a_running_experiment(store: HistoryStore) -> None:
    stored = await record(store, "300.1", name="Banner test")
    experiment = await store.find_experiment_by_thread("T1", "C1", "300.1")
    assert experiment is not None and experiment.id == stored.experiment_id
    assert (experiment.name, experiment.status, experiment.ref) == (
        "Banner test",
        "running",
        "EXP-1",
    )
    assert experiment.charter.primary_metric is None


async def test_numbers_are_per_team(store: HistoryStore) -> None:
    a1 = await store.create_experiment(team_id="TA", channel_id="C1", charter=CHARTER)
    b1 = await store.create_experiment(team_id="TB", channel_id="C1", charter=CHARTER)
    a2 = await store.create_experiment(team_id="TA", channel_id="C2", charter=CHARTER)
    assert (a1.ref, b1.ref, a2.ref) == ("EXP-1", "EXP-1", "EXP-2")


async def test_nothing_leaks_across_teams_or_channels(store: HistoryStore) -> None:
    mine = await record(store, "1.1", team_id="T1", channel_id="C1", name="Mine")
    await record(store, "1.1", team_id="T1", channel_id="C2", name="Other channel")
    theirs = await record(store, "1.1", team_id="T2", channel_id="C1", name="Other team")

    in_channel = await store.list_experiments("T1", channel_id="C1")
    assert [s.experiment.name for s in in_channel] == ["Mine"]
    assert {s.experiment.name for s in await store.list_experiments("T1")} == {
        "Mine",
        "Other channel",
    }
    assert [s.experiment.name for s in await store.recent_for_team("T2")] == ["Other team"]

    assert (await store.find_experiment_by_thread("T2", "C1", "1.1")).name == "Other team"  # type: ignore[union-attr]
    assert await store.find_experiment_by_thread("T1", "C3", "1.1") is None
    assert (await store.get_experiment("T2", "EXP-1")).name == "Other team"  # type: ignore[union-attr]
    assert await store.get_experiment("T2", "Mine") is None
    assert await store.analyses_for("T2", mine.experiment_id) == []
    assert await store.latest_analysis("T1", theirs.experiment_id) is None
    with pytest.raises(ExperimentNotFound):
        await store.get_experiment_by_id("T2", mine.experiment_id)
    with pytest.raises(ExperimentNotFound):
        await store.set_status("T2", mine.experiment_id, "completed")
    with pytest.raises(ExperimentNotFound):
        await store.record_decision("T2", mine.experiment_id, "launched", user_id="U9")
    with pytest.raises(ExperimentNotFound):
        await store.record_analysis(
            team_id="T2", channel_id="C1", experiment_id=mine.experiment_id, **analysis_fields()
        )


async def test_get_experiment_by_ref_or_name(store: HistoryStore) -> None:
    await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    pricing = dataclasses.replace(CHARTER, name="Pricing page 50% off")
    second = await store.create_experiment(team_id="T1", channel_id="C2", charter=pricing)
    for ref in ("EXP-2", "exp-2", "exp2", "#2", "2", 2, "pricing PAGE 50% off", "50%"):
        found = await store.get_experiment("T1", ref)
        assert found is not None and found.id == second.id, ref
    assert await store.get_experiment("T1", "EXP-9") is None
    assert await store.get_experiment("T1", "e") is None  # matches both names: ambiguous
    assert await store.get_experiment("T1", "   ") is None


async def test_listing_is_newest_first_with_latest_verdict_and_decision(
    store: HistoryStore,
) -> None:
    old = await record(store, "1.1", name="Old", verdict="hold")
    await record(store, "1.1", name="Old", verdict="launch")
    await store.record_decision("T1", old.experiment_id, "launched", user_id="U2")
    await record(store, "2.1", name="New", verdict="rollback")
    await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)

    newest, new, older = await store.list_experiments("T1", channel_id="C1")
    assert (newest.experiment.name, newest.latest, newest.decision) == ("Checkout v2", None, None)
    assert (new.experiment.name, new.latest.verdict_kind, new.latest.look) == ("New", "rollback", 1)  # type: ignore[union-attr]
    assert older.latest is not None and (older.latest.verdict_kind, older.latest.look) == (
        "launch",
        2,
    )
    assert older.decision is not None and older.decision.decision == "launched"
    assert older.experiment.status == "completed" and older.experiment.outcome == "launched"
    assert [s.experiment.name for s in await store.list_experiments("T1", limit=1)] == [
        "Checkout v2"
    ]
    # App Home orders by activity: a new look moves "Old" to the top there, not in the listing.
    await record(store, "1.1", name="Old", verdict="launch")
    assert (await store.recent_for_team("T1", limit=3))[0].experiment.name == "Old"
    assert (await store.list_experiments("T1"))[0].experiment.name == "Checkout v2"


async def test_search_text(store: HistoryStore) -> None:
    await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    await record(store, "9.1", name="Pricing_page 100%")
    assert [s.experiment.name for s in await store.list_experiments("T1", text="SHORTER")] == [
        "Checkout v2"
    ]
    assert [s.experiment.ref for s in await store.list_experiments("T1", text="exp-2")] == ["EXP-2"]
    assert len(await store.list_experiments("T1", text="100%")) == 1  # % and _ are literal
    assert await store.list_experiments("T1", text="_x") == []


async def test_backlog_ranks_proposed_by_rice(store: HistoryStore) -> None:
    def proposed(name: str, reach: float | None) -> Charter:
        rice = Rice(reach=reach, impact=1, confidence=1, effort=1) if reach is not None else None
        return dataclasses.replace(CHARTER, name=name, rice=rice)

    for name, reach in (("low", 10), ("unscored", None), ("high", 1000), ("mid", 100)):
        await store.create_experiment(team_id="T1", channel_id="C1", charter=proposed(name, reach))
    running = await store.create_experiment(
        team_id="T1", channel_id="C1", charter=proposed("running", 10**6)
    )
    await store.set_status("T1", running.id, "running")
    await store.create_experiment(
        team_id="T2", channel_id="C1", charter=proposed("elsewhere", 10**7)
    )
    assert [e.name for e in await store.backlog("T1")] == ["high", "mid", "low", "unscored"]


async def test_status_changes(store: HistoryStore) -> None:
    created = await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    assert (await store.set_status("T1", created.id, "running")).status == "running"
    assert (await store.set_status("T1", created.id, "completed")).status == "completed"
    with pytest.raises(ValueError, match="status must be one of"):
        await store.set_status("T1", created.id, "shipped")


async def test_decisions_and_the_reason_rule(store: HistoryStore) -> None:
    look = await record(store, verdict="hold")
    experiment_id = look.experiment_id
    with pytest.raises(DecisionReasonRequired, match="against the bot's verdict \\(Hold\\)"):
        await store.record_decision("T1", experiment_id, "launched", user_id="U2", reason="  ")
    with pytest.raises(ValueError):  # DecisionReasonRequired is a ValueError
        await store.record_decision("T1", experiment_id, "rolled-back", user_id="U2")
    assert await store.decisions_for("T1", experiment_id) == []  # nothing half-recorded

    held = await store.record_decision("T1", experiment_id, "held", user_id="U2")
    assert (held.bot_verdict, held.reason, held.against_verdict) == ("hold", None, False)
    assert (await store.get_experiment_by_id("T1", experiment_id)).status == "running"

    launched = await store.record_decision(
        "T1", experiment_id, "launched", user_id="U3", reason=" Revenue matters more "
    )
    assert (launched.reason, launched.against_verdict, launched.analysis_id) == (
        "Revenue matters more",
        True,
        look.id,
    )
    trail = await store.decisions_for("T1", experiment_id)
    assert [d.decision for d in trail] == ["held", "launched"]
    experiment = await store.get_experiment_by_id("T1", experiment_id)
    assert (experiment.status, experiment.outcome) == ("completed", "launched")
    with pytest.raises(ValueError, match="decision must be one of"):
        await store.record_decision("T1", experiment_id, "shipped", user_id="U2")


async def test_decision_without_any_look_needs_no_reason(store: HistoryStore) -> None:
    created = await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    decision = await store.record_decision("T1", created.id, "rolled-back", user_id="U1")
    assert (decision.bot_verdict, decision.analysis_id) == (None, None)


async def test_decision_against_a_named_look(store: HistoryStore) -> None:
    first = await record(store, verdict="launch")
    await record(store, verdict="rollback")
    decision = await store.record_decision(
        "T1", first.experiment_id, "launched", user_id="U1", analysis_id=first.id
    )
    assert (decision.bot_verdict, decision.against_verdict) == ("launch", False)
    other = await record(store, "2.1", name="Other")
    with pytest.raises(LookupError):
        await store.record_decision(
            "T1", first.experiment_id, "launched", user_id="U1", analysis_id=other.id
        )


async def test_charter_lock_records_changes_after_the_first_look(store: HistoryStore) -> None:
    created = await store.create_experiment(
        team_id="T1", channel_id="C1", charter=CHARTER, thread_ts="5.1"
    )
    renamed = dataclasses.replace(CHARTER, name="Checkout v2.1", primary_metric="revenue")
    before = await store.update_charter("T1", created.id, renamed, by="U1")
    assert before.charter_changes == () and before.charter.primary_metric == "revenue"

    await record(store, "5.1")
    looser = dataclasses.replace(
        renamed,
        name="Checkout v2.2",
        primary_metric="conversion",
        guardrails=(CharterGuardrail("guardrail_refund", worsened_pp=0.5, severe_pp=1.0),),
        hypothesis="Edited wording",
    )
    after = await store.update_charter("T1", created.id, looser, by="U7")
    assert after.changed_after_first_look
    assert [c.field for c in after.charter_changes] == ["primary_metric", "guardrails"]
    metric_change, guardrail_change = after.charter_changes
    assert (metric_change.old, metric_change.new, metric_change.by) == (
        "revenue",
        "conversion",
        "U7",
    )
    assert guardrail_change.new == [
        {
            "name": "guardrail_refund",
            "higher_is_better": False,
            "worsened_pp": 0.5,
            "severe_pp": 1.0,
            "margin_rel": None,
        }
    ]
    assert metric_change.at.tzinfo is not None
    assert after.charter == looser
    again = await store.update_charter("T1", created.id, looser, by="U7")
    assert len(again.charter_changes) == 2  # no change, nothing new recorded


async def test_threads_belong_to_one_experiment(store: HistoryStore) -> None:
    created = await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    attached = await store.set_thread("T1", created.id, channel_id="C1", thread_ts="7.1")
    assert (attached.channel_id, attached.thread_ts) == ("C1", "7.1")
    look = await record(store, "7.1")
    assert look.experiment_id == created.id
    with pytest.raises(ThreadTaken):
        await store.create_experiment(
            team_id="T1", channel_id="C1", charter=CHARTER, thread_ts="7.1"
        )
    other = await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    with pytest.raises(ThreadTaken):
        await store.set_thread("T1", other.id, channel_id="C1", thread_ts="7.1")
    assert other.ref == "EXP-2"
    assert (
        await store.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
    ).ref == "EXP-3"


async def test_card_message_ts_can_be_set_after_posting(store: HistoryStore) -> None:
    look = await record(store)
    await store.set_analysis_message("T1", look.id, "100.9")
    assert (await store.latest_analysis("T1", look.experiment_id)).message_ts == "100.9"  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        await store.set_analysis_message("T2", look.id, "100.9")


async def test_event_key_is_stored_once(store: HistoryStore) -> None:
    await record(store, event_key="T1:F1:1.1")
    with pytest.raises(DuplicateEventError):
        await record(store, event_key="T1:F1:1.1")
    [summary] = await store.list_experiments("T1")
    assert summary.experiment.look_count == 1


async def test_claim_event_and_forget_old_claims(store: HistoryStore) -> None:
    assert await store.claim_event("T1", "T1:F1:1.1") is True
    assert await store.claim_event("T1", "T1:F1:1.1") is False
    assert await store.claim_event("T2", "T1:F1:1.1") is True  # claims are per team
    assert await store.forget_events(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert await store.forget_events(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert await store.claim_event("T1", "T1:F1:1.1") is True


async def test_claim_run_and_forget_old_runs(store: HistoryStore) -> None:
    old, recent = datetime(2026, 6, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    for due in (old, recent):
        assert await store.claim_run("look", "7", due, "host:1") is True
        assert await store.claim_run("look", "7", due, "host:2") is False
    assert await store.forget_runs(datetime(2026, 9, 1, tzinfo=UTC)) == 1
    assert [r.due_at for r in await store.scheduled_runs("look", "7")] == [recent]
    assert await store.claim_run("look", "7", recent, "host:2") is False


async def test_history_survives_reopening_the_engine(database: Database) -> None:
    engine = database.engine()
    await upgrade(engine)
    async with HistoryStore(engine, owns_engine=True) as first:
        created = await first.create_experiment(team_id="T1", channel_id="C1", charter=CHARTER)
        await first.record_analysis(
            team_id="T1", channel_id="C1", experiment_id=created.id, **analysis_fields()
        )
        await first.record_decision("T1", created.id, "launched", user_id="U1")
    async with HistoryStore(database.engine(), owns_engine=True) as second:
        [summary] = await second.list_experiments("T1")
        assert summary.experiment.charter == CHARTER
        assert summary.latest is not None and summary.latest.verdict_kind == "launch"
        assert summary.decision is not None and summary.decision.user_id == "U1"
        [look] = await second.analyses_for("T1", created.id)
        assert look.result == make_result()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_open_upgrades_and_closes(database: Database) -> None:
    store = await HistoryStore.open(database.url)
    async with store:
        assert await store.claim_event("T1", "e1")
    reopened = await HistoryStore.open(database.url, upgrade=False)
    async with reopened:
        assert await reopened.claim_event("T1", "e1") is False


def test_charter_validation() -> None:
    with pytest.raises(ValueError, match="name"):
        Charter(name=" ")
    with pytest.raises(ValueError, match="owner has at most 200"):
        Charter(name="x", owner="o" * 201)
    with pytest.raises(ValueError, match="split"):
        Charter(name="x", expected_split=(50.0,))
    with pytest.raises(ValueError, match="planned looks"):
        Charter(name="x", planned_looks=0)
    with pytest.raises(ValueError, match="end date"):
        Charter(name="x", start_date=date(2024, 2, 1), end_date=date(2024, 1, 1))
    with pytest.raises(ValueError, match="confidence"):
        Rice(reach=1, impact=1, confidence=80, effort=1)
    with pytest.raises(ValueError, match="effort"):
        Rice(reach=1, impact=1, confidence=0.5, effort=0)
    with pytest.raises(ValueError, match="margin_rel"):
        CharterGuardrail("g", margin_rel=-0.1)


async def test_fields_from_a_real_analysis(store: HistoryStore) -> None:
    from experimentos.model import (
        Analysis,
        ExperimentInfo,
        HealthReport,
        Thresholds,
        Verdict,
    )

    analysis = Analysis(
        experiment=ExperimentInfo(
            name="Real one",
            file_name="real.csv",
            checksum="f" * 64,
            rows=2,
            input_format="aggregated",
            arms=("control", "treatment"),
            control="control",
            primary_metric="conversion",
        ),
        health=HealthReport(status="blocked", findings=(), srm=None),
        primary=(),
        guardrails=(),
        secondary=(),
        overall=None,
        bayes=None,
        sequential=None,
        verdict=Verdict(kind="hold", rule=1, reason="Fix the data.", reasons=(), next_actions=()),
        thresholds=Thresholds(),
    )
    stored = await store.record_analysis(
        team_id="T1", channel_id="C1", thread_ts="8.1", **fields_from_analysis(analysis)
    )
    assert (stored.verdict_kind, stored.health_status, stored.file_name) == (
        "hold",
        "blocked",
        "real.csv",
    )
    assert stored.result == analysis.to_dict()
    experiment = await store.get_experiment_by_id("T1", stored.experiment_id)
    assert experiment.name == "Real one"
