"""The decision audit over real HTTP: *Record decision* (a modal) and ``/experiment status``;
a decision against the bot's verdict needs a reason; the memo ends with the audit trail."""

from __future__ import annotations

import json

import pytest
from harness import (
    CHANNEL,
    USER,
    RunningBot,
    button_value,
    cards_in,
    form_values,
    view_of,
)
from slack_standin import SlackStandIn

from bot.render.card import ACTION_MEMO, ACTION_RECORD
from bot.render.decision import CALLBACK_DECISION

HOLD = b"variant,users,conversions\ncontrol,2000,200\ntreatment,2000,210\n"


async def hold_card(bot: RunningBot, standin: SlackStandIn) -> tuple[str, str]:
    ts = await bot.upload([standin.add_file("pricing.csv", HOLD)], text="name: Pricing page")
    [card] = await cards_in(bot, ts)
    assert "Hold" in card.text
    return ts, button_value(card, ACTION_RECORD)


async def open_modal(bot: RunningBot, standin: SlackStandIn, value: str, ts: str) -> str:
    await bot.action(ACTION_RECORD, value, thread_ts=ts)
    [call] = await standin.wait_for(lambda: standin.calls_to("views.open"))
    return str(view_of(call)["private_metadata"])


async def decide(
    bot: RunningBot, metadata: str, decision: str, reason: str | None = None
) -> dict | None:
    fields = {"decision": decision, **({"reason": reason} if reason else {})}
    status, answer = await bot.view_submission(
        CALLBACK_DECISION, form_values(**fields), private_metadata=metadata
    )
    assert status == 200
    return answer


async def test_against_the_verdict_without_a_reason_is_an_error_in_the_modal(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await hold_card(bot, standin)
    metadata = await open_modal(bot, standin, value, ts)
    answer = await decide(bot, metadata, "launched")
    assert answer is not None and answer["response_action"] == "errors"
    assert "goes against the bot's verdict (Hold)" in answer["errors"]["reason"]
    experiment = await bot.runtime.services.store.find_experiment_by_thread(
        standin.team_id, CHANNEL, ts
    )
    assert experiment is not None
    assert not await bot.runtime.services.store.decisions_for(standin.team_id, experiment.id)


async def test_a_decision_with_its_reason_is_stored_posted_and_ends_the_memo(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await hold_card(bot, standin)
    metadata = await open_modal(bot, standin, value, ts)
    assert await decide(bot, metadata, "launched", "Legal needs it live by Friday") is None
    posted = await standin.wait_for(
        lambda: [m for m in standin.thread(CHANNEL, ts) if "recorded" in m.text]
    )
    assert f"<@{USER}> recorded *Launched* for `EXP-1`" in posted[0].text
    assert "against the verdict" in posted[0].text

    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, ts)
    assert experiment is not None
    [decision] = await store.decisions_for(standin.team_id, experiment.id)
    assert (decision.decision, decision.user_id, decision.bot_verdict) == ("launched", USER, "hold")
    assert decision.reason == "Legal needs it live by Friday" and decision.against_verdict
    assert (await store.get_experiment_by_id(standin.team_id, experiment.id)).status == "completed"

    await bot.action(ACTION_MEMO, value, thread_ts=ts)
    [upload] = await standin.wait_for(lambda: standin.uploads)
    assert upload["thread_ts"] == ts
    markdown = next(body for body in standin.upload_bodies.values() if b"# Decision memo" in body)
    trail = markdown.decode().split("## Decision audit trail", 1)[1]
    assert "U0ANALYST recorded Launched (the bot said Hold; against the verdict)" in trail
    assert "reason: Legal needs it live by Friday" in trail


async def test_agreeing_with_the_verdict_needs_no_reason(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await hold_card(bot, standin)
    metadata = await open_modal(bot, standin, value, ts)
    assert await decide(bot, metadata, "held") is None
    await bot.idle()
    [posted] = [m for m in standin.thread(CHANNEL, ts) if "recorded" in m.text]
    assert "*Held*" in posted.text and "against" not in posted.text


@pytest.mark.parametrize("ref", ["EXP-1", "1", "pricing page", "Pricing"])
async def test_status_records_a_decision_and_wants_a_reason_against_the_verdict(
    bot: RunningBot, standin: SlackStandIn, ref: str
) -> None:
    ts, _ = await hold_card(bot, standin)
    await bot.command(f"status {ref} rolled back", response_id="no-reason")
    [answer] = await standin.wait_for(lambda: standin.responses)
    assert answer["response_type"] == "ephemeral"
    assert "goes against the bot's verdict (Hold); please write down the reason" in answer["text"]
    assert "/experiment status EXP-1 rolled-back &lt;why we decided this&gt;" in answer["text"]

    await bot.command(f"status {ref} rolled-back the refund spike is real", response_id="ok")
    done = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "ok"]
    )
    assert "recorded *rolled-back*" in done[0]["text"]
    posted = await standin.wait_for(
        lambda: [m for m in standin.thread(CHANNEL, ts) if "recorded" in m.text]
    )
    assert "*Rolled back*" in posted[0].text and "the refund spike is real" in posted[0].text


async def test_status_sets_running_and_completed_and_explains_bad_usage(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await hold_card(bot, standin)
    store = bot.runtime.services.store
    await bot.command("status EXP-1 completed", response_id="c")
    await standin.wait_for(lambda: standin.responses)
    [summary] = await store.list_experiments(standin.team_id)
    assert summary.experiment.status == "completed"
    await bot.command("status EXP-1 shipped-it", response_id="bad")
    bad = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "bad"]
    )
    assert "Usage: `/experiment status EXP-n launched|held|rolled-back" in bad[0]["text"]
    await bot.command("status EXP-9 launched", response_id="missing")
    missing = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "missing"]
    )
    assert "I found no experiment “EXP-9”" in missing[0]["text"]
    assert json.dumps(missing[0]).count("Error id") == 0  # an answer, not a failure
