"""``python -m bot`` as a real process: settings errors, HTTP mode end to end, graceful stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from harness import CHANNEL, SIGNING_SECRET, RunningBot
from slack_standin import SlackStandIn

from bot.settings import BotSettings, SettingsError, normalise_database_url

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "  ", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
    ],
)
async def test_a_missing_token_is_one_line_and_exit_code_2(
    env: dict[str, str], missing: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and missing in lines[0]
    assert "Traceback" not in stderr.decode()


@pytest.mark.parametrize(
    ("database_url", "fragment"),
    [
        ("mysql://u@db/x", "DATABASE_URL: the database URL names 'mysql'"),
        ("postgresql://postgres@127.0.0.1:1/none", "history store postgresql+asyncpg://"),
    ],
)
async def test_a_bad_or_unreachable_database_is_one_line(database_url: str, fragment: str) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        DATABASE_URL=database_url,
        ANALYSIS_EXECUTOR="thread",
        PORT=str(free_port()),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode in (1, 2)
    errors = [line for line in stderr.decode().splitlines() if line.startswith("bot: ")]
    assert len(errors) == 1 and fragment in errors[0], stderr.decode()
    assert "Traceback" not in stderr.decode()


def test_settings_from_env() -> None:
    settings = BotSettings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret",
            "SLACK_SIGNING_SECRET": "shh-secret",
            "SLACK_API_URL": "http://127.0.0.1:9999/api",
            "PORT": "8080",
            "DATABASE_URL": "postgres://u:p@db/x",
        }
    )
    assert settings.api_url == "http://127.0.0.1:9999/api/"
    assert settings.port == 8080
    assert not settings.socket_mode
    assert settings.database_url == "postgresql+asyncpg://u:p@db/x"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("SLACK_API_URL", "slack.com/api"),
        ("LOG_LEVEL", "LOUD"),
        ("ANALYSIS_EXECUTOR", "gpu"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", name: value}
    with pytest.raises(SettingsError, match=name):
        BotSettings.from_env(env)


def test_database_urls_from_platforms_map_to_asyncpg() -> None:
    assert normalise_database_url("postgresql://h/db") == "postgresql+asyncpg://h/db"
    assert normalise_database_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"python -m bot exited with {process.returncode}")
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("python -m bot never became healthy")


async def test_python_m_bot_serves_http_and_stops_gracefully(
    standin: SlackStandIn, database_url: str
) -> None:
    port = free_port()
    env = clean_env(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=standin.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.api_url,
        PORT=str(port),
        HOST="127.0.0.1",
        ANALYSIS_EXECUTOR="thread",
        LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, process)
        async with aiohttp.ClientSession() as session:
            bot = RunningBot(url, None, standin, session)  # type: ignore[arg-type]
            status, body = await bot.command("help")
            assert status == 200 and "/experiment power" in body
            ts = await bot.upload(
                [
                    standin.add_file(
                        "launch.csv", b"variant,users,conversions\ncontrol,9000,900\nb,9000,1100\n"
                    )
                ]
            )
            [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
            assert "Launch" in card.blocks[0]["text"]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "shutting down" in log
    assert standin.bot_token not in log


async def test_python_m_bot_in_socket_mode(standin: SlackStandIn, database_url: str) -> None:
    env = clean_env(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=standin.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_APP_TOKEN=standin.app_token,
        SLACK_API_URL=standin.api_url,
        ANALYSIS_EXECUTOR="thread",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await standin.wait_for(lambda: standin.sockets or process.returncode is not None)
        assert process.returncode is None
        command = {
            "command": "/experiment",
            "text": "help",
            "team_id": standin.team_id,
            "channel_id": CHANNEL,
            "user_id": "U1",
            "response_url": standin.response_url(),
        }
        envelope = await standin.send_envelope("slash_commands", command)
        [reply] = await standin.wait_for(
            lambda: [r for r in standin.socket_replies if r.get("envelope_id") == envelope]
        )
        assert "/experiment power" in json.dumps(reply["payload"])

        ts = standin.next_ts()
        file = standin.add_file(
            "launch.csv", b"variant,users,conversions\ncontrol,9000,900\nb,9000,1100\n"
        )
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel": CHANNEL,
            "user": "U1",
            "text": "",
            "ts": ts,
            "files": [file],
        }
        body = {
            "team_id": standin.team_id,
            "type": "event_callback",
            "event_id": "EvSOCKET",
            "event": event,
        }
        await standin.send_envelope("events_api", body)
        [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
        assert "Launch" in card.blocks[0]["text"]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
