"""Slack rate-limiting the bot (HTTP 429 with Retry-After): every wait honoured, no message lost,
and no "Analysing…" placeholder left in the thread when the card cannot replace it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from harness import CHANNEL, RunningBot, header_of
from slack_standin import Call, SlackStandIn

TWO_ARMS = b"variant,users,conversions\ncontrol,10000,1000\ntreatment,10000,1200\n"
RETRY_AFTER_S = 1


def gaps(calls: list[Call]) -> list[float]:
    return [later.at - earlier.at for earlier, later in pairwise(calls)]


async def settled_thread(bot: RunningBot, standin: SlackStandIn, ts: str) -> list:
    """The thread once a card is in it and the bot has nothing left to do."""
    await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    await bot.idle()
    return standin.thread(CHANNEL, ts)


def placeholders(messages: list) -> list:
    return [m for m in messages if "Analysing" in m.text]


@pytest.mark.parametrize("limited_updates", [5, 50], ids=["five 429s", "429 for good"])
async def test_a_rate_limited_card_update_leaves_no_placeholder_behind(
    bot: RunningBot, standin: SlackStandIn, limited_updates: int
) -> None:
    standin.fail_next("chat.update", status=429, retry_after=RETRY_AFTER_S, times=limited_updates)
    ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
    thread = await settled_thread(bot, standin, ts)

    [card] = standin.cards(CHANNEL, ts)
    assert "Launch" in header_of(card)
    assert not placeholders(thread), [m.text for m in thread]
    assert thread == [card]  # one message answers the upload: the card
    updates = standin.calls_to("chat.update")
    assert all(gap >= RETRY_AFTER_S for gap in gaps(updates)), gaps(updates)
    assert len(updates) <= 10  # bounded: the card does not wait on Slack for ever


async def test_the_placeholder_is_removed_even_when_its_removal_is_rate_limited(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    standin.fail_next("chat.update", status=429, retry_after=RETRY_AFTER_S, times=50)
    standin.fail_next("chat.delete", status=429, retry_after=RETRY_AFTER_S, times=1)
    ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
    thread = await settled_thread(bot, standin, ts)
    assert not placeholders(thread), [m.text for m in thread]
    assert len(standin.cards(CHANNEL, ts)) == 1
    deletes = standin.calls_to("chat.delete")
    assert all(gap >= RETRY_AFTER_S for gap in gaps(deletes)), gaps(deletes)


async def test_a_card_update_limited_once_still_replaces_the_placeholder(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    standin.fail_next("chat.update", status=429, retry_after=RETRY_AFTER_S, times=1)
    ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
    thread = await settled_thread(bot, standin, ts)
    [card] = thread
    assert card.updates == 1  # the placeholder itself became the card
    assert not standin.calls_to("chat.delete")
    limited, retried = standin.calls_to("chat.update")
    assert retried.at - limited.at >= RETRY_AFTER_S
