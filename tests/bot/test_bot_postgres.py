"""Two bot processes sharing one PostgreSQL history (what several web dynos do).

Skipped unless TEST_DATABASE_URL names a PostgreSQL server; each test works in a schema of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Any

import pytest
from harness import (
    CHANNEL,
    RunningBot,
    cards_in,
    fresh_schema,
    settings_for,
    start_bot,
    stop_bot,
    texts_of,
)
from slack_standin import SlackStandIn

from experimentos.store import HistoryStore

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not TEST_DATABASE_URL.startswith(("postgres", "postgresql")),
        reason="TEST_DATABASE_URL is not set to a PostgreSQL URL "
        "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); PostgreSQL bot tests skipped",
    ),
]
LAUNCH = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1200\n"


@pytest.fixture
async def schema() -> AsyncIterator[dict[str, Any]]:
    """Engine options putting every table of one test in a fresh schema, dropped afterwards."""
    async with fresh_schema("bot_test") as options:
        yield options


@pytest.fixture
async def two_bots(
    standin: SlackStandIn, analysis_pool: Executor, schema: dict[str, Any]
) -> AsyncIterator[tuple[RunningBot, RunningBot]]:
    stores = [await HistoryStore.open(TEST_DATABASE_URL, **schema) for _ in range(2)]
    settings = settings_for(standin, database_url=TEST_DATABASE_URL)
    bots = [await start_bot(standin, settings, analysis_pool, store=s) for s in stores]
    try:
        yield bots[0], bots[1]
    finally:
        for bot in bots:
            await stop_bot(bot)
        for store in stores:
            await store.close()


async def test_the_same_event_at_two_bots_gives_one_card(
    two_bots: tuple[RunningBot, RunningBot], standin: SlackStandIn
) -> None:
    first, second = two_bots
    ts = standin.next_ts()
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "user": "U0ANALYST",
        "text": "name: Shared history",
        "ts": ts,
        "files": [standin.add_file("launch.csv", LAUNCH)],
    }
    # Slack retries an event another process was slow to answer: both receive it.
    answers = await asyncio.gather(
        first.event(event, event_id="EvTWICE"), second.event(event, event_id="EvTWICE", retry_num=1)
    )
    assert [status for status, _ in answers] == [200, 200]
    await cards_in(first, ts)
    await second.idle()
    assert len(standin.cards(CHANNEL, ts)) == 1
    assert len(standin.downloads) == 1
    [summary] = await first.runtime.services.store.list_experiments(standin.team_id)
    assert summary.experiment.look_count == 1


async def test_a_look_taken_by_one_bot_is_seen_by_the_other(
    two_bots: tuple[RunningBot, RunningBot], standin: SlackStandIn
) -> None:
    first, second = two_bots
    ts = await first.upload([standin.add_file("w1.csv", LAUNCH)], text="name: Two dynos")
    await cards_in(first, ts)
    await second.upload([standin.add_file("w2.csv", LAUNCH)], thread_ts=ts)
    look_2 = (await cards_in(second, ts, count=2))[1]
    assert "`EXP-1` · Look 2" in texts_of(look_2)
    status, _ = await first.command("history", response_id="h")
    assert status == 200
    [reply] = await standin.wait_for(lambda: standin.responses)
    assert "EXP-1 · Two dynos" in str(reply["blocks"]) and "look 2" in str(reply["blocks"])
