"""Drive the real bot over HTTP: signed slash commands, events and block actions."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_standin import SlackStandIn

from bot.settings import BotSettings
from bot.web import RUNTIME, Runtime, create_web_app
from experimentos.store import HistoryStore, create_engine_from_url

SIGNING_SECRET = "standin-signing-secret-0123456789"
CHANNEL = "C0EXPERIMENTS"
USER = "U0ANALYST"

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")

_event_ids = itertools.count(1)


@contextlib.asynccontextmanager
async def fresh_schema(prefix: str) -> AsyncIterator[dict[str, Any]]:
    """Engine options (``HistoryStore.open(TEST_DATABASE_URL, **options)``) putting a test's
    tables in a schema of their own on the real PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine_from_url(TEST_DATABASE_URL)
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield {"connect_args": {"server_settings": {"search_path": name}}}
    finally:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        await admin.dispose()


@contextlib.asynccontextmanager
async def shared_history(
    kind: str, directory: Path | str, *, count: int = 1, prefix: str = "bot_test"
) -> AsyncIterator[tuple[str, list[HistoryStore]]]:
    """(URL, ``count`` history stores on it), as that many bot processes open one history: a
    SQLite file in ``directory``, or with ``kind`` "postgresql" a fresh schema on the real
    PostgreSQL (the test is skipped when TEST_DATABASE_URL names none)."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url, options = sqlite_url(directory), {}
        else:
            if not TEST_DATABASE_URL.startswith("postgres"):
                pytest.skip("TEST_DATABASE_URL names no PostgreSQL server: its case is skipped")
            url = TEST_DATABASE_URL
            options = await stack.enter_async_context(fresh_schema(prefix))
        stores = [await HistoryStore.open(url, **options) for _ in range(count)]
        for store in stores:
            stack.push_async_callback(store.close)
        yield url, stores


def sqlite_url(directory: Path | str) -> str:
    """A history store in a real SQLite file (what ``python -m bot`` uses by default)."""
    return f"sqlite+aiosqlite:///{Path(directory) / 'history.db'}"


def settings_for(standin: SlackStandIn, **overrides: Any) -> BotSettings:
    """Settings pointing at the stand-in; pass ``database_url`` (else a fresh temporary file)."""
    values: dict[str, Any] = {
        "database_url": sqlite_url(tempfile.mkdtemp(prefix="bot-history-")),
        "bot_token": standin.bot_token,
        "signing_secret": SIGNING_SECRET,
        "api_url": standin.api_url,
        "host": "127.0.0.1",
        "port": 0,
        "file_shared_grace_s": 0.2,
        "analysis_workers": 2,
    }
    values.update(overrides)
    return BotSettings(**values)


def sign(
    body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass
class RunningBot:
    """The bot's aiohttp app served on a random port, and a client to talk to it."""

    url: str
    runner: web.AppRunner
    standin: SlackStandIn
    session: aiohttp.ClientSession
    sent: list[float] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.runner.app[RUNTIME]

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        **sign_args: Any,
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **sign(body, **sign_args), **(headers or {})}
        async with self.session.post(
            self.url + "/slack/events", data=body, headers=all_headers
        ) as r:
            return r.status, await r.text()

    async def command(
        self,
        text: str,
        *,
        response_id: str = "cmd",
        channel: str = CHANNEL,
        user: str = USER,
    ) -> tuple[int, str]:
        body = urlencode(
            {
                "command": "/experiment",
                "text": text,
                "team_id": self.standin.team_id,
                "channel_id": channel,
                "user_id": user,
                "trigger_id": "1.2.3",
                "response_url": self.standin.response_url(response_id),
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> tuple[int, str]:
        payload = {
            "token": "legacy-verification-token",
            "team_id": self.standin.team_id,
            "api_app_id": "A0STANDIN",
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_event_ids):08d}",
            "event_time": int(time.time()),
            "event": event,
        }
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(
            json.dumps(payload), "application/json", headers=headers if retry_num else None
        )

    async def action(
        self,
        action_id: str,
        value: str,
        *,
        thread_ts: str | None = None,
        response_id: str = "act",
    ) -> tuple[int, str]:
        payload = {
            "type": "block_actions",
            "team": {"id": self.standin.team_id, "domain": "standin"},
            "user": {"id": USER, "team_id": self.standin.team_id},
            "api_app_id": "A0STANDIN",
            "trigger_id": "1.2.3",
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "channel_id": CHANNEL},
            "message": {"ts": "1700000000.999999", "thread_ts": thread_ts} if thread_ts else {},
            "response_url": self.standin.response_url(response_id),
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
            ],
        }
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    async def view_submission(
        self,
        callback_id: str,
        values: dict[str, dict[str, dict[str, Any]]],
        *,
        private_metadata: str = "",
        user: str = USER,
    ) -> tuple[int, Any]:
        """Submit a modal; returns the HTTP status and the decoded response (None when empty)."""
        payload = {
            "type": "view_submission",
            "team": {"id": self.standin.team_id, "domain": "standin"},
            "user": {"id": user, "team_id": self.standin.team_id},
            "api_app_id": "A0STANDIN",
            "trigger_id": "4.5.6",
            "view": {
                "id": "V0MODAL",
                "type": "modal",
                "team_id": self.standin.team_id,
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
            },
        }
        status, body = await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )
        return status, json.loads(body) if body else None

    async def upload(
        self, files: list[dict[str, Any]], *, text: str = "", thread_ts: str | None = None
    ) -> str:
        """Post a ``file_share`` message event carrying ``files``; returns the message ts."""
        ts = self.standin.next_ts()
        event = file_share_event(files, ts=ts, text=text, thread_ts=thread_ts)
        status, _ = await self.event(event)
        assert status == 200
        return ts

    async def idle(self) -> None:
        """Wait until no background job runs (placeholder → card flows, memo uploads)."""
        await self.runtime.services.wait_idle()


def file_share_event(
    files: list[Any],
    *,
    ts: str,
    text: str = "",
    thread_ts: str | None = None,
    user: str = USER,
) -> dict[str, Any]:
    """A ``message``/``file_share`` event in the test channel, as Slack sends it."""
    event: dict[str, Any] = {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "files": files,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


async def start_bot(
    standin: SlackStandIn,
    settings: BotSettings,
    executor: Any,
    *,
    store: HistoryStore | None = None,
) -> RunningBot:
    """Serve the bot on a random port; it opens ``settings.database_url`` unless given ``store``."""
    app = await create_web_app(settings, executor=executor, store=store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    session = aiohttp.ClientSession()
    return RunningBot(f"http://127.0.0.1:{port}", runner, standin, session)


async def stop_bot(bot: RunningBot) -> None:
    await bot.session.close()
    await bot.runner.cleanup()


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn string of a message (where Slack would parse mentions)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def header_of(message: Any) -> str:
    return str(message.blocks[0]["text"]["text"])


async def cards_in(bot: RunningBot, thread_ts: str, count: int = 1) -> list[Any]:
    """The verdict cards in a thread once there are ``count`` of them and the bot is idle."""
    standin = bot.standin
    await standin.wait_for(lambda: len(standin.cards(CHANNEL, thread_ts)) >= count)
    await bot.idle()
    return standin.cards(CHANNEL, thread_ts)


def button_value(message: Any, action_id: str) -> str:
    actions = next(b for b in message.blocks if b["type"] == "actions")
    return str(next(e for e in actions["elements"] if e["action_id"] == action_id)["value"])


def view_of(call: Any) -> dict[str, Any]:
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view


_INPUT_KINDS = {
    "owner": ("users_select", "selected_user"),
    "start": ("datepicker", "selected_date"),
    "end": ("datepicker", "selected_date"),
    "looks": ("number_input", "value"),
    "target": ("number_input", "value"),
    "reach": ("number_input", "value"),
    "impact": ("number_input", "value"),
    "confidence": ("number_input", "value"),
    "effort": ("number_input", "value"),
    "decision": ("static_select", "selected_option"),
    "method": ("static_select", "selected_option"),
}


def form_values(**fields: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """A modal's ``state.values`` as Slack sends it (block id → action ``value`` → its input)."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, value in fields.items():
        kind, key = _INPUT_KINDS.get(block_id, ("plain_text_input", "value"))
        if key == "selected_option":
            value = {"value": value, "text": {"type": "plain_text", "text": value}}
        values[block_id] = {"value": {"type": kind, key: value}}
    return values


def texts_of(message: Any) -> str:
    """Every text of a message's blocks, as one JSON string to search in."""
    return json.dumps(message.blocks, ensure_ascii=False)
