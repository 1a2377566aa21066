"""A charter whose data source is a platform experiment: ``/experiment refresh`` and the schedule
read GrowthBook's latest results (the GrowthBook stand-in over real HTTP) and post the next look
in the experiment's thread; the key never reaches Slack or the history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from harness import CHANNEL, RunningBot, cards_in, form_values, texts_of
from platform_standins import GB_KEY, draw_arms
from slack_standin import SlackStandIn

from bot.render.charter_modal import CALLBACK_CHARTER
from bot.scheduler import LOOK

SOURCE = "growthbook:exp_abc123"


async def new_charter(bot: RunningBot, standin: SlackStandIn, **fields: Any) -> str:
    before = len(standin.messages)
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER,
        form_values(name="Homepage CTA", **fields),
        private_metadata=json.dumps({"c": CHANNEL}),
    )
    assert status == 200 and answer is None, answer
    return standin.messages[before].ts


def responses(standin: SlackStandIn, response_id: str) -> list[str]:
    return [str(r.get("text")) for r in standin.responses if r["_response_id"] == response_id]


async def test_refresh_reads_the_platform_and_posts_each_look_in_the_thread(
    bot: RunningBot, standin: SlackStandIn, gb: Any
) -> None:
    thread = await new_charter(bot, standin, source_platform="GrowthBook:exp_abc123")
    assert "the latest results of `growthbook:exp_abc123`" in texts_of(standin.messages[0])
    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, thread)
    assert experiment is not None and experiment.charter.source_platform == SOURCE

    for look in (1, 2):
        await bot.command("refresh EXP-1", response_id=f"r{look}")
        await cards_in(bot, thread, count=look)
        said = responses(standin, f"r{look}")
        assert said[0].startswith(":hourglass: Reading `growthbook:exp_abc123`"), said
    looks = await store.analyses_for(standin.team_id, experiment.id)
    assert len(looks) == 2
    arms = draw_arms()
    analysis = looks[-1].analysis()
    assert analysis is not None
    metric = analysis.primary[0]
    assert (metric.control.n, metric.treatment.n) == (arms[0].n, arms[1].n)
    assert (metric.control.conversions, metric.treatment.conversions) == (
        int(arms[0].signup.sum()),
        int(arms[1].signup.sum()),
    )
    seen = json.dumps([m.blocks for m in standin.messages]) + json.dumps(standin.responses)
    assert GB_KEY not in seen
    assert {c.headers.get("authorization") for c in gb.calls} == {f"Bearer {GB_KEY}"}


async def test_a_platform_without_its_key_is_one_line(
    bot: RunningBot, standin: SlackStandIn, gb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = await new_charter(bot, standin, source_platform=SOURCE)
    monkeypatch.delenv("GROWTHBOOK_API_KEY")
    await bot.command("refresh EXP-1", response_id="nokey")
    [line] = await standin.wait_for(lambda: responses(standin, "nokey"))
    assert "GrowthBook is not connected: set `GROWTHBOOK_API_KEY`" in line
    await bot.idle()
    assert standin.cards(CHANNEL, thread) == []


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"source_platform": "hackle:130"}, "Hackle publishes no results API"),
        ({"source_platform": "optimizely:exp 1"}, "growthbook:EXP_KEY or statsig:EXP_ID"),
        (
            {
                "source_platform": SOURCE,
                "source_env": "WAREHOUSE_URL",
                "source_query": "SELECT * FROM t",
            },
            "one data source",
        ),
    ],
)
async def test_bad_platform_sources_are_shown_in_the_modal(
    bot: RunningBot,
    standin: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, str],
    fragment: str,
) -> None:
    monkeypatch.setenv("EXPERIMENTOS_SOURCES", "WAREHOUSE_URL")
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER,
        form_values(name="X", **fields),
        private_metadata=json.dumps({"c": CHANNEL}),
    )
    assert status == 200 and answer["response_action"] == "errors"
    assert fragment in answer["errors"]["source_platform"], answer["errors"]


async def test_a_scheduled_platform_look_posts_in_the_thread(
    bot: RunningBot, standin: SlackStandIn, gb: Any
) -> None:
    thread = await new_charter(
        bot, standin, source_platform=SOURCE, refresh_schedule="weekdays 09:00"
    )
    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, thread)
    assert experiment is not None and experiment.charter.refresh_schedule == "weekdays 09:00"
    due = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
    outcome = await bot.runtime.scheduler.run_look(experiment.id, standin.team_id, due)
    [card] = await cards_in(bot, thread)
    assert outcome == f"posted {card.ts}"
    [run] = await store.scheduled_runs(LOOK, str(experiment.id))
    assert (run.due_at, run.outcome) == (due, outcome)
