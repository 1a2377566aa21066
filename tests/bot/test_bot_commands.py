"""/experiment over real HTTP: help, power, bad power, share (history subcommands: test_bot_history)."""

from __future__ import annotations

import json

import pytest
from harness import CHANNEL, RunningBot
from slack_standin import SlackStandIn

from bot.render.power_reply import ACTION_SHARE


@pytest.mark.parametrize("text", ["", "help", "frobnicate"])
async def test_help_is_the_acknowledgement(bot: RunningBot, text: str) -> None:
    status, body = await bot.command(text)
    assert status == 200
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    rendered = json.dumps(answer["blocks"])
    assert "/experiment power" in rendered
    if text == "frobnicate":
        assert "I don't know `frobnicate`" in rendered


async def test_power_answers_ephemerally_with_a_share_button(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    status, body = await bot.command("power baseline=10% mde=1pp daily=5000", response_id="p1")
    assert status == 200
    assert body == ""  # acknowledged at once; the answer follows on the response_url
    answer = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "p1"]
    )
    message = answer[0]
    assert message["response_type"] == "ephemeral"
    rendered = json.dumps(message["blocks"])
    assert "14,751 users per variant" in rendered
    assert "29,502 in total" in rendered
    assert "6 days" in rendered
    share = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]
    assert share["action_id"] == ACTION_SHARE

    status, _ = await bot.action(ACTION_SHARE, share["value"], response_id="s1")
    assert status == 200
    shared = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "s1"]
    )
    assert shared[0]["response_type"] == "in_channel"
    assert "14,751 users per variant" in json.dumps(shared[0]["blocks"])
    assert "Shared by" in json.dumps(shared[0]["blocks"])
    # The power curve follows in the channel (a file: where the bot is a member).
    [upload] = await standin.wait_for(lambda: standin.uploads)
    assert upload["channel_id"] == CHANNEL
    assert [f["title"] for f in upload["files"]] == ["Sample size — power curve"]
    [step] = standin.calls_to("files.getUploadURLExternal")
    assert "14,751 users per variant" in step.args["alt_txt"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("power baseline=0.10 mde=0.01", "14,751 users per variant"),
        ("power baseline=10% mde=10% relative", "14,751 users per variant"),
    ],
)
async def test_power_accepts_the_documented_forms(
    bot: RunningBot, standin: SlackStandIn, text: str, expected: str
) -> None:
    await bot.command(text, response_id="p")
    answer = await standin.wait_for(lambda: standin.responses)
    assert expected in json.dumps(answer[0]["blocks"])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("power baseline=10 mde=1pp", "baseline=10 is not a conversion rate"),
        ("power baseline=10%", "Missing mde"),
        ("power baseline=10% mde=1pp alpha=2", "alpha=2 must be between 0 and 1"),
        ("power baseline=10% mde=1pp colour=blue", "Unknown parameter `colour`"),
    ],
)
async def test_bad_power_gets_a_specific_ephemeral_error(
    bot: RunningBot, standin: SlackStandIn, text: str, fragment: str
) -> None:
    status, _ = await bot.command(text, response_id="bad")
    assert status == 200
    answer = await standin.wait_for(lambda: standin.responses)
    assert answer[0]["response_type"] == "ephemeral"
    rendered = json.dumps(answer[0]["blocks"])
    assert fragment in rendered
    assert "Error id" in rendered
