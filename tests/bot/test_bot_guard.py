"""The listener wrapper: returns at ack, acks late listeners, reports failures after acking.

Listeners here block on an ``asyncio.Event`` the test sets, so "the wrapper returned while the work
goes on" is a fact of the test's ordering, not of timing; every wait has a timeout so a regression
fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from bot.listeners import guard
from bot.listeners.guard import guarded
from bot.middleware import VERIFIED
from bot.services import Services
from bot.settings import BotSettings

T = TypeVar("T")
WITHIN_S = 10.0
"""Generous: the waits below end as soon as their event is set."""


async def within(step: Awaitable[T], seconds: float = WITHIN_S) -> T:
    """Await ``step``, failing the test (instead of hanging it) after ``seconds``."""
    return await asyncio.wait_for(step, seconds)


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
    recorder, release, finished = Recorder(), asyncio.Event(), asyncio.Event()

    async def listener(ack: Any) -> None:
        await ack(text="on it")
        await release.wait()
        finished.set()

    await within(guarded(listener)(**kwargs_for(recorder, services)))
    # The wrapper is back although the listener cannot finish before the test releases it.
    assert recorder.acks == [{"text": "on it"}]
    assert not finished.is_set() and services.jobs_in_flight == 1
    release.set()
    await within(services.wait_idle())
    assert finished.is_set() and services.jobs_in_flight == 0


async def test_a_listener_that_does_not_ack_in_time_is_acked_empty(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "ACK_DEADLINE_S", 0.01)
    recorder, release, late_ack_done = Recorder(), asyncio.Event(), asyncio.Event()

    async def slow(ack: Any) -> None:
        await release.wait()  # past the deadline: the wrapper has returned by now
        await ack(text="too late")  # ignored: already acknowledged
        late_ack_done.set()

    await within(guarded(slow)(**kwargs_for(recorder, services)))
    assert recorder.acks == [{}]  # the empty ack, sent at the deadline
    assert services.jobs_in_flight == 1  # …while the listener still waits
    release.set()
    await within(late_ack_done.wait())
    await within(services.wait_idle())
    assert recorder.acks == [{}]


async def test_a_failure_before_ack_is_acked_and_reported(services: Services) -> None:
    recorder = Recorder()

    async def broken(ack: Any) -> None:
        raise RuntimeError("boom")

    await within(guarded(broken)(**kwargs_for(recorder, services)))
    await within(services.wait_idle())
    assert recorder.acks == [{}]
    [response] = recorder.responses
    assert response["response_type"] == "ephemeral"
    assert "Something went wrong" in response["text"]


async def test_event_listeners_return_at_once(services: Services) -> None:
    recorder, started, release = Recorder(), asyncio.Event(), asyncio.Event()

    async def on_event(services: Services) -> None:
        started.set()
        await release.wait()

    await within(guarded(on_event)(**kwargs_for(recorder, services)))
    assert services.jobs_in_flight == 1  # returned with the listener still to finish
    await within(started.wait())
    assert services.jobs_in_flight == 1
    release.set()
    await within(services.wait_idle())
    assert recorder.acks == [] and services.jobs_in_flight == 0
