"""Slack redelivering an event while the first copy is still being handled: copies that arrive at
the same moment (X-Slack-Retry-Num), in one bot process or spread over two sharing the history
store, yield one analysis and one card."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest
from harness import (
    CHANNEL,
    RunningBot,
    file_share_event,
    settings_for,
    shared_history,
    start_bot,
    stop_bot,
)
from slack_standin import SlackStandIn

from experimentos.store import HistoryStore

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TWO_ARMS = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1200\n"


def file_share(standin: SlackStandIn) -> tuple[dict[str, Any], str]:
    ts = standin.next_ts()
    return file_share_event([standin.add_file("launch.csv", TWO_ARMS)], ts=ts, user="U1"), ts


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


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[HistoryStore]]:
    """Two history stores on one database, as two bot processes open it: a SQLite file, or a
    fresh schema of TEST_DATABASE_URL (skipped when that is not PostgreSQL)."""
    async with shared_history(request.param, tmp_path, count=2, prefix="bot_redelivery") as (
        _,
        stores,
    ):
        yield stores


async def test_copies_at_once_to_two_bot_processes_sharing_a_store_give_one_card(
    standin: SlackStandIn, analysis_pool: Executor, two_stores: list[HistoryStore]
) -> None:
    """Each process has its own in-memory dedupe: only the store's claim can stop the second."""
    settings = settings_for(standin)
    first, second = [
        await start_bot(standin, settings, analysis_pool, store=store) for store in two_stores
    ]
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
        assert await looks_in_thread(second, ts) == 1
        card = standin.cards(CHANNEL, ts)[0]
        assert "Launch" in json.dumps(card.blocks)
    finally:
        await stop_bot(second)
        await stop_bot(first)
