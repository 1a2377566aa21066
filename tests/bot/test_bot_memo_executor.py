"""Memos and charts are drawn on a pool of their own: Memo clicks never delay anyone's card.

The memo's HTML rendering is made slow here (it waits for a gate before doing the real work),
the Memo button is clicked more times than asyncio's default thread pool has threads, and another
CSV is uploaded while every one of those renders is still stuck. Its card must arrive while the
gate is still shut; then the gate opens and every memo is uploaded. Nothing is timed: the test
waits on events, and a starved card shows as the stand-in giving up on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from harness import CHANNEL, RunningBot
from slack_standin import SlackStandIn

from bot.render.card import ACTION_MEMO
from bot.services import Services
from bot.settings import BotSettings
from experimentos.report import memo

CLICKS = 40
"""More than asyncio's default pool ever has (min(32, CPUs + 4)): a shared pool would be full."""
FIRST = b"variant,users,conversions\ncontrol,15000,1500\ntreatment,15000,1700\n"
SECOND = b"variant,users,conversions\ncontrol,9000,900\ntreatment,9000,905\n"


class Gate:
    """Holds every memo HTML render until opened; counts how many have started."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.first_started = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def wrap(self, render: Any) -> Any:
        def slow_render(*args: Any, **kwargs: Any) -> str:
            with self._lock:
                self.started += 1
            self.first_started.set()
            self.opened.wait(timeout=300)
            return str(render(*args, **kwargs))

        return slow_render


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    monkeypatch.setattr(memo, "render_html", held.wrap(memo.render_html))
    yield held
    held.opened.set()  # never leave a worker thread waiting, whatever the test did


async def card_of(bot: RunningBot, standin: SlackStandIn, name: str, content: bytes) -> Any:
    ts = await bot.upload([standin.add_file(name, content)], text=f"name: {name}")
    [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    return ts, card


async def test_memo_clicks_do_not_starve_another_card(
    bot: RunningBot, standin: SlackStandIn, gate: Gate
) -> None:
    ts, card = await card_of(bot, standin, "first.csv", FIRST)
    await bot.idle()
    memo_value = next(b for b in card.blocks if b["type"] == "actions")["elements"][0]["value"]

    for _ in range(CLICKS):
        status, _ = await bot.action(ACTION_MEMO, memo_value, thread_ts=ts)
        assert status == 200  # acknowledged at once, whatever the renders are doing
    await standin.wait_for(gate.first_started.is_set)

    # Every memo render is stuck behind the gate; another upload still gets its card.
    _, second = await card_of(bot, standin, "second.csv", SECOND)
    assert second.blocks[0]["text"]["text"].endswith("second.csv")
    assert not gate.opened.is_set()
    assert standin.uploads == []  # no memo has got through: the card did not wait for them
    assert gate.started <= 2  # the memos queue on their own bounded pool

    gate.opened.set()
    await standin.wait_for(lambda: len(standin.uploads) == CLICKS)
    await bot.idle()
    assert gate.started == CLICKS


async def test_render_pool_is_bounded_owned_and_shut_down_on_close() -> None:
    settings = BotSettings(bot_token="xoxb-x", signing_secret="s", executor="thread")
    services = Services(settings, store=None)  # type: ignore[arg-type]
    await services.start()
    try:
        names = {await services.render(lambda: threading.current_thread().name) for _ in range(6)}
        assert len(names) == 1 and names.pop().startswith("render")
    finally:
        await services.close(drain_s=0)
    with pytest.raises(RuntimeError, match="start"):
        await services.render(lambda: None)
