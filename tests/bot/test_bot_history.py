"""The history subcommands over real HTTP: history, show, memo, backlog; App Home; a restart."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

import pytest
from harness import (
    CHANNEL,
    RunningBot,
    button_value,
    cards_in,
    form_values,
    header_of,
    settings_for,
    start_bot,
    stop_bot,
    texts_of,
    view_of,
)
from slack_standin import SlackStandIn

from bot.render.card import ACTION_MEMO
from bot.render.charter_modal import CALLBACK_CHARTER
from experimentos import analyze
from experimentos.store import fields_from_analysis

LAUNCH = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1200\n"
HOLD = b"variant,users,conversions\ncontrol,2000,200\ntreatment,2000,210\n"


async def answer(bot: RunningBot, text: str, response_id: str) -> dict[str, Any]:
    status, body = await bot.command(text, response_id=response_id)
    assert status == 200 and body == ""
    found = await bot.standin.wait_for(
        lambda: [r for r in bot.standin.responses if r["_response_id"] == response_id]
    )
    await bot.idle()
    return found[0]


async def two_experiments(bot: RunningBot, standin: SlackStandIn) -> tuple[str, str]:
    first = await bot.upload([standin.add_file("a.csv", HOLD)], text="name: Pricing page")
    await cards_in(bot, first)
    second = await bot.upload([standin.add_file("b.csv", LAUNCH)], text="name: Checkout v2")
    await cards_in(bot, second)
    return first, second


async def test_history_lists_this_channels_experiments_newest_first_with_links(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    _first, second = await two_experiments(bot, standin)
    store = bot.runtime.services.store
    elsewhere = analyze(LAUNCH, file_name="x.csv")
    await store.record_analysis(
        team_id=standin.team_id,
        channel_id="C0OTHER",
        thread_ts="1.1",
        **fields_from_analysis(elsewhere),
    )
    reply = await answer(bot, "history", "h")
    assert reply["response_type"] == "ephemeral"
    lines = [b["text"]["text"] for b in reply["blocks"] if b["type"] == "section"][1:]
    assert len(lines) == 2  # not the other channel's experiment
    assert "EXP-2 · Checkout v2" in lines[0] and ":rocket: Launch (look 1" in lines[0]
    assert "EXP-1 · Pricing page" in lines[1] and ":pause_button: Hold" in lines[1]
    link = f"https://standin.slack.com/archives/{CHANNEL}/p{second.replace('.', '')}"
    assert f"<{link}|EXP-2 · Checkout v2>" in lines[0]
    assert "Running" in lines[0]

    filtered = await answer(bot, "history checkout", "f")
    rendered = json.dumps(filtered["blocks"])
    assert "Checkout v2" in rendered and "Pricing page" not in rendered
    empty = await answer(bot, "history nothing-like-this", "e")
    assert "No experiments in this channel matching" in empty["text"]


async def test_show_reposts_the_latest_card_in_its_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    first, _ = await two_experiments(bot, standin)
    await bot.upload([standin.add_file("a2.csv", LAUNCH)], thread_ts=first)
    await cards_in(bot, first, count=2)
    reply = await answer(bot, "show pricing page", "s")
    assert "Re-posted the latest card of `EXP-1`" in reply["text"]
    cards = standin.cards(CHANNEL, first)
    assert len(cards) == 3
    assert "Pricing page" in header_of(cards[-1]) and "Launch" in header_of(cards[-1])
    assert "`EXP-1` · Look 2" in texts_of(cards[-1])
    assert "Since look 1:" in texts_of(cards[-1])  # the look diff, rebuilt from the history


async def test_memo_uploads_the_memo_with_its_audit_trail_to_the_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    first, _ = await two_experiments(bot, standin)
    reply = await answer(bot, "memo EXP-1", "m")
    assert "Uploaded the memo of `EXP-1`" in reply["text"]
    [upload] = standin.uploads
    assert upload["channel_id"] == CHANNEL and upload["thread_ts"] == first
    markdown = next(b for b in standin.upload_bodies.values() if b.startswith(b"# Decision memo"))
    assert b"Pricing page" in markdown
    assert markdown.rstrip().endswith(b"- No decision recorded yet for EXP-1.")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("show", "Which experiment? `/experiment show EXP-n|name`"),
        ("memo", "Which experiment? `/experiment memo EXP-n|name`"),
        ("show EXP-42", "I found no experiment “EXP-42”"),
        ("memo no such thing", "I found no experiment “no such thing”"),
    ],
)
async def test_show_and_memo_explain_a_missing_experiment(
    bot: RunningBot, text: str, fragment: str
) -> None:
    reply = await answer(bot, text, "x")
    assert reply["response_type"] == "ephemeral"
    assert fragment in reply["text"]


async def charter(bot: RunningBot, name: str, **rice: str) -> None:
    values = form_values(name=name, **rice)
    status, body = await bot.view_submission(
        CALLBACK_CHARTER, values, private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and body is None


async def test_backlog_ranks_proposed_experiments_by_rice(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await charter(bot, "Small bet", reach="1000", impact="1", confidence="50", effort="2")
    await charter(bot, "Big bet", reach="50000", impact="2", confidence="80", effort="4")
    await charter(bot, "Unscored idea")
    await charter(bot, "Already running", reach="90000", impact="3", confidence="90", effort="1")
    running = standin.messages[-1]
    await bot.upload([standin.add_file("r.csv", LAUNCH)], thread_ts=running.ts)
    await cards_in(bot, running.ts)
    reply = await answer(bot, "backlog", "b")
    text = reply["blocks"][0]["text"]["text"]
    assert text.index("Big bet") < text.index("Small bet") < text.index("Unscored idea")
    assert "Already running" not in text  # Running now: out of the backlog
    assert "RICE *20,000*" in text and "no RICE score" in text


async def test_new_opens_a_modal_even_after_other_subcommands(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await answer(bot, "history", "h")
    await bot.command("new")
    [call] = await standin.wait_for(lambda: standin.calls_to("views.open"))
    assert view_of(call)["callback_id"] == CALLBACK_CHARTER


async def test_app_home_shows_recent_verdicts_and_decisions(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await two_experiments(bot, standin)
    await answer(bot, "status EXP-2 launched", "d")
    await bot.event({"type": "app_home_opened", "user": "U0ANALYST", "tab": "home"})
    [call] = await standin.wait_for(lambda: standin.calls_to("views.publish"))
    rendered = json.dumps(view_of(call)["blocks"])
    assert rendered.index("Checkout v2") < rendered.index("Pricing page")  # most recent first
    assert "Decision: *Launched* by <@U0ANALYST>" in rendered
    assert f"<#{CHANNEL}>" in rendered


async def test_a_restarted_bot_remembers_history_and_old_cards(
    standin: SlackStandIn, analysis_pool: Executor, database_url: str
) -> None:
    settings = settings_for(standin, database_url=database_url)
    before = await start_bot(standin, settings, analysis_pool)
    try:
        ts = await before.upload([standin.add_file("a.csv", LAUNCH)], text="name: Before restart")
        [card] = await cards_in(before, ts)
    finally:
        await stop_bot(before)

    after = await start_bot(standin, settings, analysis_pool)
    try:
        reply = await answer(after, "history", "after")
        assert "EXP-1 · Before restart" in json.dumps(reply["blocks"], ensure_ascii=False)
        await after.action(ACTION_MEMO, button_value(card, ACTION_MEMO), thread_ts=ts)
        [upload] = await standin.wait_for(lambda: standin.uploads)
        assert upload["thread_ts"] == ts
        # …and the same message redelivered after the restart is still not analysed twice.
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel": CHANNEL,
            "user": "U0ANALYST",
            "text": "",
            "ts": ts,
            "files": [standin.file_object(standin.files[next(iter(standin.files))].id)],
        }
        assert (await after.event(event, event_id="EvAFTER"))[0] == 200
        await after.idle()
        assert len(standin.cards(CHANNEL, ts)) == 1
    finally:
        await stop_bot(after)


async def test_claimed_events_are_forgotten_after_the_retention(
    standin: SlackStandIn, analysis_pool: Executor, database_url: str
) -> None:
    settings = settings_for(
        standin, database_url=database_url, event_retention_s=0.0, event_sweep_interval_s=0.05
    )
    bot = await start_bot(standin, settings, analysis_pool)
    try:
        store = bot.runtime.services.store
        assert await store.claim_event(standin.team_id, "file:F1:1.1")

        async def forgotten() -> bool:
            if await store.claim_event(standin.team_id, "file:F1:1.1"):
                return True
            await asyncio.sleep(0.05)
            return False

        for _ in range(100):
            if await forgotten():
                break
        else:
            raise AssertionError("the claim was never forgotten")
    finally:
        await stop_bot(bot)
