"""Fixtures for the bot tests: the Web API stand-in, a shared worker pool, the running bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from pathlib import Path

import pytest
from harness import RunningBot, settings_for, sqlite_url, start_bot, stop_bot
from platform_standins import GB_KEY, StandIn, draw_arms, growthbook
from slack_standin import SlackStandIn

from bot.runner import make_executor


@pytest.fixture(scope="session")
def analysis_pool() -> Iterator[Executor]:
    """One spawned process pool for the whole session: the production executor, started once."""
    pool = make_executor("process", 2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    server = await SlackStandIn().start()
    yield server
    await server.close()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The bot's history store: a real SQLite file in the test's own directory."""
    return sqlite_url(tmp_path)


@pytest.fixture
async def bot(
    standin: SlackStandIn, analysis_pool: Executor, database_url: str
) -> AsyncIterator[RunningBot]:
    running = await start_bot(
        standin, settings_for(standin, database_url=database_url), analysis_pool
    )
    yield running
    await stop_bot(running)


@pytest.fixture
def gb(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A GrowthBook stand-in serving :func:`draw_arms`, and the bot's environment pointing at it."""
    server = growthbook(draw_arms(), api_key=GB_KEY)
    monkeypatch.setenv("GROWTHBOOK_API_KEY", GB_KEY)
    monkeypatch.setenv("GROWTHBOOK_API_URL", server.url)
    yield server
    server.stop()
