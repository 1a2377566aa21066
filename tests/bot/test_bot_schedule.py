"""Scheduled looks and the channel digest: two bot apps (two runtimes, two schedulers) sharing one
history — a SQLite file, and a fresh schema on the real PostgreSQL (TEST_DATABASE_URL) — over real
HTTP against the Slack stand-in. The saved source is a DuckDB file.

Each due time runs exactly once: both apps fire it, one claims it, one look is recorded and one
card is posted in the thread. The digest posts one message per channel, once, whose lines are
checked against counts written here and readiness worked out by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from harness import (
    CHANNEL,
    RunningBot,
    cards_in,
    form_values,
    settings_for,
    shared_history,
    start_bot,
    stop_bot,
    texts_of,
)
from slack_standin import SlackStandIn

from bot.render.charter_modal import CALLBACK_CHARTER
from bot.render.digest import DigestLine, digest_message
from bot.render.limits import MAX_MESSAGE_BLOCKS, problems
from bot.scheduler import DIGEST, DIGEST_JOB, LOOK, Scheduler, look_job_id
from experimentos.config import load_thresholds
from experimentos.model import Options
from experimentos.store import HistoryStore
from experimentos.usecases import analyse_and_record_by_name

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
VARIABLE = "EXPOS_TEST_SCHEDULED_SOURCE"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "launch.csv"


@pytest.fixture(autouse=True)
def allowed_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator lists the test's variable among the bot's data sources."""
    monkeypatch.setenv("EXPERIMENTOS_SOURCES", VARIABLE)


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """A DuckDB file with 4,000 users; the variable names it."""
    rng = np.random.default_rng(11)
    arm = rng.choice(["control", "treatment"], 4000)
    converted = (rng.random(4000) < np.where(arm == "treatment", 0.13, 0.10)).astype(int)
    frame = pd.DataFrame({"user_id": np.arange(4000), "variant": arm, "converted": converted})
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE users AS SELECT * FROM frame")
    monkeypatch.setenv(VARIABLE, f"duckdb:///{path}")
    return frame


@pytest.fixture(params=["sqlite", "postgresql"])
async def shared(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, list[HistoryStore]]]:
    """(database URL, two stores on it): one SQLite file, or a fresh PostgreSQL schema."""
    async with shared_history(request.param, tmp_path, count=2, prefix="bot_sched") as shared:
        yield shared


@pytest.fixture
async def two_apps(
    shared: tuple[str, list[HistoryStore]], standin: SlackStandIn, analysis_pool: Executor
) -> AsyncIterator[list[RunningBot]]:
    url, stores = shared
    settings = settings_for(standin, database_url=url)
    bots = [await start_bot(standin, settings, analysis_pool, store=s) for s in stores]
    try:
        yield bots
    finally:
        for bot in bots:
            await stop_bot(bot)


def scheduler(bot: RunningBot) -> Scheduler:
    return bot.runtime.scheduler


async def new_charter(bot: RunningBot, standin: SlackStandIn, **fields: Any) -> str:
    before = len(standin.messages)
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER, form_values(**fields), private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and answer is None, answer
    return standin.messages[before].ts


async def settled(bots: list[RunningBot], kind: str, subject: str, due: datetime) -> None:
    """Until both schedulers have attempted the run (one ran it, one found it claimed)."""

    def attempted(bot: RunningBot) -> bool:
        return any(r[:3] == (kind, subject, due) for r in scheduler(bot).finished)

    await bots[0].standin.wait_for(lambda: all(attempted(bot) for bot in bots))
    for bot in bots:
        await bot.idle()


async def schedule_health(bot: RunningBot) -> dict[str, Any]:
    """What the bot's ``/healthz`` says of its scheduler, over HTTP."""
    async with bot.session.get(bot.url + "/healthz") as response:
        assert response.status == 200
        return (await response.json())["scheduler"]


async def test_a_due_look_runs_once_with_two_apps(
    two_apps: list[RunningBot], standin: SlackStandIn, source: pd.DataFrame
) -> None:
    first, second = two_apps
    idle = await schedule_health(first)
    assert (idle["running"], idle["scheduled_experiments"], idle["next_run"]) == (False, 0, None)
    for bot in two_apps:
        await scheduler(bot).start()
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    thread = await new_charter(
        first,
        standin,
        name="Scheduled checkout",
        target="8000",
        source_env=VARIABLE,
        source_query="SELECT * FROM users",
        refresh_schedule=f"Daily {minute:%H:%M}",
    )
    assert f"Refreshed by itself daily at {minute:%H:%M} UTC" in texts_of(standin.messages[0])
    store = first.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, thread)
    assert experiment is not None and experiment.charter.refresh_schedule == f"daily {minute:%H:%M}"
    await first.idle()  # the sync after the charter was saved
    await scheduler(second).sync()  # what the other process's periodic sync does
    tomorrow = minute + timedelta(days=1)  # the same minute tomorrow: the next fire of both
    assert [scheduler(bot).next_fire(experiment.id) for bot in two_apps] == [tomorrow] * 2
    health = await schedule_health(second)
    assert (health["running"], health["scheduled_experiments"]) == (True, 1)
    assert health["digest"] == "weekly on Mon at 09:00 UTC"  # EXPERIMENTOS_DIGEST's default
    fired = (DIGEST_JOB, look_job_id(experiment.id))
    next_runs = [j.next_run_time for j in scheduler(second).jobs() if j.id in fired]
    assert len(next_runs) == 2
    assert health["next_run"] == min(next_runs).isoformat() <= tomorrow.isoformat()

    # Both processes' jobs fire now, within the grace after today's due minute: APScheduler runs
    # them, each computes the due time and claims it; one wins.
    for bot in two_apps:
        [job] = [j for j in scheduler(bot).jobs() if j.id == look_job_id(experiment.id)]
        job.modify(next_run_time=datetime.now(UTC))
    await settled(two_apps, LOOK, str(experiment.id), minute)
    [card] = await cards_in(first, thread)
    outcomes = [r[3] for bot in two_apps for r in scheduler(bot).finished if r[0] == LOOK]
    assert sorted(outcomes, key=lambda o: o is None) == [f"posted {card.ts}", None]
    [look] = await store.analyses_for(standin.team_id, experiment.id)
    analysis = look.analysis()
    assert analysis is not None and look.message_ts == card.ts and look.user_id is None
    counts = source.groupby("variant")["converted"].agg(["sum", "count"])
    metric = analysis.primary[0]
    assert (metric.control.conversions, metric.control.n) == tuple(counts.loc["control"])
    assert (metric.treatment.conversions, metric.treatment.n) == tuple(counts.loc["treatment"])

    # The next due time, fired at the same moment by both (no scheduler in between).
    results = await asyncio.gather(
        *(scheduler(bot).run_look(experiment.id, standin.team_id, tomorrow) for bot in two_apps)
    )
    won, lost = sorted(results, key=lambda o: o is None)
    assert lost is None and str(won).startswith("posted ")
    assert len(await cards_in(first, thread, count=2)) == 2
    assert len(await store.analyses_for(standin.team_id, experiment.id)) == 2
    runs = await store.scheduled_runs(LOOK, str(experiment.id))
    assert [(r.due_at, r.outcome is not None) for r in runs] == [(minute, True), (tomorrow, True)]
    latest = [(await schedule_health(bot))["latest_runs"] for bot in two_apps]
    assert (
        sum(r["posted"] for r in latest) == 2 and sum(r["claimed_elsewhere"] for r in latest) == 2
    )
    assert all(r["failed"] == 0 for r in latest)
    assert {r.claimed_by for r in runs} <= {scheduler(bot).name for bot in two_apps}


async def test_a_failing_scheduled_look_posts_one_line(
    two_apps: list[RunningBot], standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_apps
    monkeypatch.setenv(VARIABLE, "duckdb:///" + str(Path("/nonexistent") / "gone.duckdb"))
    thread = await new_charter(
        first,
        standin,
        name="Broken source",
        source_env=VARIABLE,
        source_query="SELECT * FROM users",
        refresh_schedule="weekdays 09:00",
    )
    store = first.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, thread)
    assert experiment is not None
    due = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    results = await asyncio.gather(
        *(scheduler(bot).run_look(experiment.id, standin.team_id, due) for bot in two_apps)
    )
    [outcome] = [r for r in results if r is not None]
    await first.idle()
    [line] = standin.thread(CHANNEL, thread)
    assert line.text.startswith(":warning: Scheduled look (weekdays at 09:00 UTC): `EXP-1`")
    assert "\n" not in line.text and outcome.startswith("failed: `EXP-1` not refreshed")
    [run] = await store.scheduled_runs(LOOK, str(experiment.id))
    assert run.outcome == outcome
    latest = [(await schedule_health(bot))["latest_runs"] for bot in two_apps]
    assert sorted((r["failed"], r["claimed_elsewhere"]) for r in latest) == [(0, 1), (1, 0)]
    assert not await store.analyses_for(standin.team_id, experiment.id)


def aggregated(control: tuple[int, int], treatment: tuple[int, int]) -> bytes:
    rows = [f"control,{control[0]},{control[1]}", f"treatment,{treatment[0]},{treatment[1]}"]
    return ("variant,users,conversions\n" + "\n".join(rows) + "\n").encode()


async def test_the_digest_posts_once_per_channel(
    two_apps: list[RunningBot], standin: SlackStandIn
) -> None:
    first, second = two_apps
    plans = [
        # name, charter fields, the CSV's (users, conversions) per arm
        ("Flat checkout", {"target": "60000"}, ((20000, 2000), (21230, 2125))),
        ("Big banner", {"target": "30000"}, ((16000, 1600), (16000, 1660))),
        ("Planned pricing", {"target": "90000", "looks": "1"}, ((5000, 500), (5000, 505))),
        ("Clear winner", {"target": "1000000"}, ((20000, 2000), (20000, 2800))),
        ("Already decided", {}, ((1000, 100), (1000, 100))),
        ("Not started", {}, None),
    ]
    threads = []
    for name, fields, data in plans:
        thread = await new_charter(first, standin, name=name, **fields)
        threads.append(thread)
        if data is not None:
            file = standin.add_file(f"{name}.csv", aggregated(*data))
            await first.upload([file], thread_ts=thread)
            await cards_in(first, thread)
    await first.command("status EXP-5 held because it was a dry run", response_id="decided")
    await first.idle()
    # A look the command line recorded (team "local", channel "cli") in the same history: this
    # bot cannot post there, so no digest is claimed or posted for it.
    await analyse_and_record_by_name(
        first.runtime.services.store,
        EXAMPLE,
        options=Options(),
        thresholds=load_thresholds(),
        url="the test's history",
    )
    running = await first.runtime.services.store.running_undecided()
    assert {(s.experiment.team_id, s.experiment.channel_id) for s in running} >= {("local", "cli")}
    posted_before = len(standin.messages)

    due = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    results = await asyncio.gather(*(scheduler(bot).run_digest(due) for bot in two_apps))
    subject = f"{standin.team_id}:{CHANNEL}"
    assert sorted(len(r) for r in results) == [0, 1]
    assert not await first.runtime.services.store.scheduled_runs(DIGEST, "local:cli")
    [digest] = standin.messages[posted_before:]
    assert digest.channel == CHANNEL and digest.thread_ts is None
    assert next(r for r in results if r)[subject] == f"posted {digest.ts}"
    [run] = await second.runtime.services.store.scheduled_runs(DIGEST, subject)
    assert run.outcome == f"posted {digest.ts}" and run.due_at == due

    store = first.runtime.services.store
    verdicts = {}
    for number in (1, 2, 3, 4):
        experiment = await store.get_experiment(standin.team_id, number)
        assert experiment is not None
        latest = await store.latest_analysis(standin.team_id, experiment.id)
        assert latest is not None
        verdicts[number] = latest.verdict_kind.capitalize()
    assert verdicts[4] == "Launch"
    sections = [blk["text"]["text"] for blk in digest.blocks if blk["type"] == "section"]
    assert (
        digest.blocks[0]["text"]["text"] == ":bar_chart: Experiment digest: 4 running experiments"
    )
    assert sections[0] == "*Ready to decide:* `EXP-2`, `EXP-3`, `EXP-4`"
    lines = {s.split(" · ")[0].split("|")[-1]: s for s in sections[1:]}
    assert list(lines) == ["EXP-2", "EXP-3", "EXP-4", "EXP-1"]  # the ready ones first
    assert f"{verdicts[1]} (look 1) · 41,230 of 60,000 users (69%)" in lines["EXP-1"]
    assert "Ready to decide" not in lines["EXP-1"]
    assert "32,000 of 30,000 users (107%)" in lines["EXP-2"]
    assert lines["EXP-2"].endswith("*Ready to decide:* target sample size reached")
    assert "10,000 of 90,000 users (11%)" in lines["EXP-3"]
    assert "*Ready to decide:* last planned look reached" in lines["EXP-3"]
    assert "40,000 of 1,000,000 users (4%)" in lines["EXP-4"]
    assert lines["EXP-4"].endswith("*Ready to decide:* the always-valid interval excludes zero")
    shown = json.dumps(digest.blocks)
    assert "Already decided" not in shown and "Not started" not in shown
    assert digest.text == "Experiment digest: 4 running experiments, 3 ready to decide."

    # The digest job of a started scheduler: next Monday 09:00 UTC (worked out by hand).
    await scheduler(first).start()
    now = datetime.now(UTC)
    monday = (now + timedelta(days=(7 - now.weekday()) % 7)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    if monday <= now:
        monday += timedelta(days=7)
    [job] = [j for j in scheduler(first).jobs() if j.id == "digest"]
    assert job.next_run_time == monday


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"refresh_schedule": "daily 9"}, "“9” is not a time of day"),
        ({"refresh_schedule": "*/5 * * * *"}, "fires more often than hourly"),
        (
            {"refresh_schedule": "daily 09:00", "source_env": None, "source_query": None},
            "A schedule refreshes the data source",
        ),
    ],
)
async def test_bad_schedules_are_shown_in_the_modal(
    standin: SlackStandIn, bot: RunningBot, fields: dict[str, Any], fragment: str
) -> None:
    values = {"name": "X", "source_env": VARIABLE, "source_query": "SELECT 1", **fields}
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER,
        form_values(**{k: v for k, v in values.items() if v is not None}),
        private_metadata=json.dumps({"c": CHANNEL}),
    )
    assert status == 200 and answer["response_action"] == "errors"
    assert fragment in answer["errors"]["refresh_schedule"], answer["errors"]
    await bot.idle()
    assert not standin.messages


def test_a_long_digest_keeps_within_slack_limits() -> None:
    long_name = "Checkout <b>&" + "x" * 300
    lines = [
        DigestLine(
            number=n,
            name=long_name,
            link=f"https://standin.example/archives/C1/p{n}",
            look=3,
            verdict="hold",
            users=1000 * n,
            target=60000,
            ready=("target sample size reached",) if n % 7 == 0 else (),
        )
        for n in range(1, 121)
    ]
    text, blocks = digest_message(lines)
    assert problems(blocks) == [] and len(blocks) == MAX_MESSAGE_BLOCKS
    assert "…and 74 more: `/experiment history` lists them all." in json.dumps(
        [b.to_dict() for b in blocks], ensure_ascii=False
    )
    assert "<b>" not in json.dumps([b.to_dict() for b in blocks])
    assert text == "Experiment digest: 120 running experiments, 17 ready to decide."
