"""Slack redelivering an event while the first copy is still being handled: copies that arrive at
the same moment (X-Slack-Retry-Num), in one bot process or spread over two sharing the history
store, yield one analysis and one card."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

from harness import CHANNEL, RunningBot, settings_for, start_bot, stop_bot
from slack_standin import SlackStandIn

TWO_ARMS = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1100\n"


def file_share(standin: SlackStandIn) -> tuple[dict[str, Any], str]:
    file = standin.add_file("launch.csv", TWO_ARMS)
    ts = standin.next_ts()
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "user": "U1",
        "text": "",
        "ts": ts,
        "files": [file],
    }
    return event, ts


async def at_once(deliveries: list[Any]) -> list[int]:
    """Send every delivery concurrently over HTTP; the HTTP statuses."""
    answers = await asyncio.gather(*deliveries)
    return [status for status, _body in answers]


async def looks_in_thread(bot: RunningBot, ts: str) -> int:
    store = bot.runtime.services.store
    team = bot.standin.team_id
    experiment = await store.find_experiment_by_thread(team, CHANNEL, ts)
    return 0 if experiment is None else len(await store.analyses_for(team, experiment.id))


async def settle(standin: SlackStandIn, bots: list[RunningBot], ts: str) -> None:
    await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    for bot in bots:
        await bot.idle()


def assert_one_answer(standin: SlackStandIn, ts: str) -> None:
    thread = standin.thread(CHANNEL, ts)
    assert len(standin.cards(CHANNEL, ts)) == 1, [m.text for m in thread]
    assert len(thread) == 1, [m.text for m in thread]  # no second placeholder or problem message
    assert len(standin.downloads) == 1
    assert len(standin.calls_to("reactions.add")) == 1


async def test_three_copies_of_one_event_at_once_give_one_card(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    event, ts = file_share(standin)
    copies = [bot.event(event, event_id="EvTRIPLE", retry_num=retry) for retry in (None, 1, 2)]
    assert await at_once(copies) == [200, 200, 200]
    await settle(standin, [bot], ts)
    assert_one_answer(standin, ts)
    assert await looks_in_thread(bot, ts) == 1
    assert bot.runtime.services.seen.duplicates >= 2


async def test_one_message_under_three_event_ids_at_once_gives_one_card(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    event, ts = file_share(standin)
    copies = [bot.event(event, event_id=f"EvCOPY{n}", retry_num=n or None) for n in range(3)]
    assert await at_once(copies) == [200, 200, 200]
    await settle(standin, [bot], ts)
    assert_one_answer(standin, ts)
    assert await looks_in_thread(bot, ts) == 1


async def test_copies_at_once_to_two_bot_processes_sharing_a_store_give_one_card(
    standin: SlackStandIn, analysis_pool: Executor, database_url: str
) -> None:
    """Each process has its own in-memory dedupe: only the store's claim can stop the second."""
    first = await start_bot(
        standin, settings_for(standin, database_url=database_url), analysis_pool
    )
    second = await start_bot(
        standin, settings_for(standin, database_url=database_url), analysis_pool
    )
    try:
        event, ts = file_share(standin)
        copies = [
            bot.event(event, event_id="EvSPREAD", retry_num=retry)
            for bot, retry in ((first, None), (second, 1), (first, 2), (second, 3))
        ]
        assert await at_once(copies) == [200, 200, 200, 200]
        await settle(standin, [first, second], ts)
        assert_one_answer(standin, ts)
        assert await looks_in_thread(first, ts) == 1
        card = standin.cards(CHANNEL, ts)[0]
        assert "Launch" in json.dumps(card.blocks)
    finally:
        await stop_bot(second)
        await stop_bot(first)
