"""The listener wrapper: returns at ack, acks late listeners, reports failures after acking."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.listeners import guard
from bot.listeners.guard import guarded
from bot.middleware import VERIFIED
from bot.services import Services
from bot.settings import BotSettings


class Recorder:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []

    async def ack(self, *args: Any, **kwargs: Any) -> None:
        self.acks.append(kwargs)

    async def respond(self, **kwargs: Any) -> None:
        self.responses.append(kwargs)


def kwargs_for(recorder: Recorder, services: Services) -> dict[str, Any]:
    return {
        "ack": recorder.ack,
        "respond": recorder.respond,
        "body": {"command": "/experiment", "response_url": "https://example.invalid/r"},
        "logger": logging.getLogger("test"),
        "client": None,
        "services": services,
        "context": {VERIFIED: True},  # as after Bolt's signature check
    }


@pytest.fixture
def services() -> Services:
    return Services(BotSettings(bot_token="xoxb-x", signing_secret="s"), store=None)  # type: ignore[arg-type]


async def test_returns_at_ack_while_the_work_goes_on(services: Services) -> None:
    recorder, finished = Recorder(), asyncio.Event()

    async def listener(ack: Any) -> None:
        await ack(text="on it")
        await asyncio.sleep(0.05)
        finished.set()

    await guarded(listener)(**kwargs_for(recorder, services))
    assert recorder.acks == [{"text": "on it"}]
    assert not finished.is_set() and services.jobs_in_flight == 1
    await services.wait_idle()
    assert finished.is_set()


async def test_a_listener_that_does_not_ack_in_time_is_acked_empty(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "ACK_DEADLINE_S", 0.01)
    recorder = Recorder()

    async def slow(ack: Any) -> None:
        await asyncio.sleep(0.2)
        await ack(text="too late")  # ignored: already acknowledged

    await guarded(slow)(**kwargs_for(recorder, services))
    assert recorder.acks == [{}]
    await services.wait_idle()
    assert recorder.acks == [{}]


async def test_a_failure_before_ack_is_acked_and_reported(services: Services) -> None:
    recorder = Recorder()

    async def broken(ack: Any) -> None:
        raise RuntimeError("boom")

    await guarded(broken)(**kwargs_for(recorder, services))
    await services.wait_idle()
    assert recorder.acks == [{}]
    [response] = recorder.responses
    assert response["response_type"] == "ephemeral"
    assert "Something went wrong" in response["text"]


async def test_event_listeners_return_at_once(services: Services) -> None:
    recorder, started = Recorder(), asyncio.Event()

    async def on_event(services: Services) -> None:
        started.set()
        await asyncio.sleep(0.05)

    await guarded(on_event)(**kwargs_for(recorder, services))
    assert services.jobs_in_flight == 1
    await services.wait_idle()
    assert started.is_set() and recorder.acks == []
