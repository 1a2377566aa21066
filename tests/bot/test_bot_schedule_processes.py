"""Two ``python -m bot`` processes sharing one PostgreSQL history (a database of their own on the
TEST_DATABASE_URL server), both serving HTTP against the Slack stand-in: a charter with a refresh
schedule due in the next minute gets exactly one scheduled look — one card in its thread, one
look in the history, one claimed run — and each process's ``/healthz`` says which one posted it
and which found it claimed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest
from harness import CHANNEL, SIGNING_SECRET, RunningBot, form_values, texts_of
from slack_standin import SlackStandIn
from test_bot_main import clean_env, free_port, wait_healthy

from bot.render.charter_modal import CALLBACK_CHARTER

ROOT = Path(__file__).resolve().parents[2]
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
VARIABLE = "EXPOS_TEST_PROCESS_SOURCE"
STARTUP_S = 25
"""Seconds kept before the due minute for the second process to start and read the schedule."""

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL.startswith("postgres"),
    reason="TEST_DATABASE_URL names no PostgreSQL server: two bot processes share a real one",
)


@pytest.fixture
def history() -> Iterator[str]:
    """A fresh database on the test server for the two processes' history; dropped after."""
    server = "postgresql://" + TEST_DATABASE_URL.split("://", 1)[1]
    name = f"bot_two_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = server.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def warehouse(tmp_path: Path) -> tuple[str, pd.DataFrame]:
    """A DuckDB file of 3,000 users, as the saved source's URL."""
    rng = np.random.default_rng(3)
    arm = rng.choice(["control", "treatment"], 3000)
    converted = (rng.random(3000) < np.where(arm == "treatment", 0.14, 0.10)).astype(int)
    frame = pd.DataFrame({"user_id": np.arange(3000), "variant": arm, "converted": converted})
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE users AS SELECT * FROM frame")
    return f"duckdb:///{path}", frame


async def start(env: dict[str, str], log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m bot`` serving HTTP, its log written to ``log`` (a file, not a pipe: a
    pipe nobody reads for a minute could fill and stall the process)."""
    port = free_port()
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot"),
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    await wait_healthy(url, process)
    return process, url


async def scheduler_health(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/healthz") as response:
        return (await response.json())["scheduler"]


async def until(check: Any, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def test_two_processes_post_one_scheduled_look(
    standin: SlackStandIn, history: str, tmp_path: Path
) -> None:
    source_url, frame = warehouse(tmp_path)
    env = clean_env(
        DATABASE_URL=history,
        SLACK_BOT_TOKEN=standin.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.api_url,
        HOST="127.0.0.1",
        ANALYSIS_EXECUTOR="thread",
        EXPERIMENTOS_SOURCES=VARIABLE,
        **{VARIABLE: source_url},
    )
    processes: list[asyncio.subprocess.Process] = []
    try:
        first, first_url = await start(env, tmp_path / "first.log")
        processes.append(first)
        due = (datetime.now(UTC) + timedelta(seconds=STARTUP_S + 60)).replace(
            second=0, microsecond=0
        )
        async with aiohttp.ClientSession() as session:
            bot = RunningBot(first_url, None, standin, session)  # type: ignore[arg-type]
            status, answer = await bot.view_submission(
                CALLBACK_CHARTER,
                form_values(
                    name="Two processes",
                    target="6000",
                    source_env=VARIABLE,
                    source_query="SELECT * FROM users",
                    refresh_schedule=f"daily {due:%H:%M}",
                ),
                private_metadata=json.dumps({"c": CHANNEL}),
            )
            assert status == 200 and answer is None, answer
            [charter] = await standin.wait_for(lambda: standin.messages[:1])
            # the second reads the saved schedule as it starts
            second, second_url = await start(env, tmp_path / "second.log")
            processes.append(second)
            urls = (first_url, second_url)

            async def both_scheduled() -> bool:
                health = [await scheduler_health(session, url) for url in urls]
                return all(h["running"] and h["scheduled_experiments"] == 1 for h in health)

            await until(both_scheduled, 30, "both schedulers to hold the experiment")
            assert datetime.now(UTC) < due, "the processes took too long to start"
            for url in urls:
                next_run = (await scheduler_health(session, url))["next_run"]
                assert next_run is not None and datetime.fromisoformat(next_run) <= due

            async def both_attempted() -> bool:
                runs = [(await scheduler_health(session, url))["latest_runs"] for url in urls]
                return sum(r["posted"] + r["claimed_elsewhere"] + r["failed"] for r in runs) == 2

            wait_s = (due - datetime.now(UTC)).total_seconds() + 60
            await until(both_attempted, wait_s, "both processes to fire the due look")
            runs = [(await scheduler_health(session, url))["latest_runs"] for url in urls]
            assert sorted((r["posted"], r["claimed_elsewhere"]) for r in runs) == [(0, 1), (1, 0)]
            assert all(r["failed"] == 0 for r in runs)
        [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, charter.ts))
        assert "Two processes" in texts_of(card)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 60)
        logs = [(tmp_path / f"{n}.log").read_text() for n in ("first", "second")[: len(processes)]]
    assert [p.returncode for p in processes] == [0, 0], logs
    assert all(standin.bot_token not in log for log in logs)
    await asyncio.sleep(0.5)
    assert len(standin.cards(CHANNEL, charter.ts)) == 1
    with psycopg.connect(history) as connection:
        looks = connection.execute("SELECT result FROM analyses").fetchall()
        claimed = connection.execute(
            "SELECT due_at, outcome FROM scheduled_runs WHERE kind = 'look'"
        ).fetchall()
    [(look,)] = looks
    [(due_at, outcome)] = claimed
    assert due_at == due and outcome.startswith("posted ")
    # The look read the saved source: its arms are the warehouse table's.
    counts = frame.groupby("variant")["converted"].agg(["sum", "count"])
    primary = (look if isinstance(look, dict) else json.loads(look))["primary"][0]
    for arm in ("control", "treatment"):
        assert (primary[arm]["conversions"], primary[arm]["n"]) == tuple(counts.loc[arm])
