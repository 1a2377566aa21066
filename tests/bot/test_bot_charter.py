"""``/experiment new`` over real HTTP: the modal, its validation, the charter in the channel, and
a CSV in the charter's thread analysed against the charter (split, guardrails, planned looks)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness import CHANNEL, USER, RunningBot, cards_in, form_values, header_of, texts_of, view_of
from slack_standin import SlackStandIn

from bot.render.charter_modal import CALLBACK_CHARTER

METADATA = json.dumps({"c": CHANNEL})
VALID: dict[str, Any] = {
    "name": "Checkout v2",
    "owner": "U0OWNER",
    "hypothesis": "A shorter checkout lifts conversion <because> fewer people drop out",
    "segment": "new users on web",
    "primary": "conversions",
    "guardrails": "guardrail_error worsened=0.5 severe=1\nguardrail_refund higher-is-better margin=1%",
    "split": "60/40",
    "looks": "3",
    "target": "30000",
    "start": "2026-11-01",
    "end": "2026-11-30",
    "reach": "20000",
    "impact": "2",
    "confidence": "80",
    "effort": "4",
}
# 60/40 as planned; the error guardrail rises 0.3 pp: "worsened" by the default 0.1 pp threshold,
# fine by the charter's 0.5 pp.
AGAINST_CHARTER = (
    b"variant,users,conversions,guardrail_error,guardrail_refund\n"
    b"control,6000,600,60,120\ntreatment,4000,480,52,81\n"
)


async def submit(bot: RunningBot, **changes: Any) -> tuple[int, Any]:
    fields = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    return await bot.view_submission(
        CALLBACK_CHARTER, form_values(**fields), private_metadata=METADATA
    )


async def test_new_opens_the_charter_modal(bot: RunningBot, standin: SlackStandIn) -> None:
    status, body = await bot.command("new")
    assert status == 200 and body == ""
    [call] = await standin.wait_for(lambda: standin.calls_to("views.open"))
    view = view_of(call)
    assert call.args["trigger_id"] == "1.2.3"
    assert view["callback_id"] == CALLBACK_CHARTER
    assert json.loads(view["private_metadata"]) == {"c": CHANNEL}
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(VALID) <= set(blocks)
    assert blocks["owner"]["element"]["type"] == "users_select"
    assert blocks["owner"]["element"]["initial_user"] == USER
    assert blocks["start"]["element"]["type"] == "datepicker"


@pytest.mark.parametrize(
    ("changes", "block", "fragment"),
    [
        ({"split": "60/30"}, "split", "must add up to 100 (it adds up to 90)"),
        ({"split": "sixty/forty"}, "split", "split must look like 50/50"),
        ({"start": "2026-12-01", "end": "2026-11-01"}, "end", "after the start date"),
        ({"reach": "-5"}, "reach", "positive number"),
        ({"effort": "0"}, "effort", "positive number"),
        ({"confidence": "180"}, "confidence", "up to 100"),
        ({"impact": None}, "impact", "all four RICE numbers"),
        (
            {"guardrails": "guardrail_error worsened=0.5 severe=0.3"},
            "guardrails",
            "0 < worsened ≤ severe",
        ),
        ({"guardrails": "guardrail_error worsened=0"}, "guardrails", "0 < worsened ≤ severe"),
        ({"guardrails": "guardrail_refund margin=150%"}, "guardrails", "between 0% and 100%"),
        ({"guardrails": "guardrail_refund colour=blue"}, "guardrails", "don't understand"),
        ({"looks": "25"}, "looks", "Between 1 and 20"),
        ({"looks": "2.5"}, "looks", "whole number"),
        ({"target": "0"}, "target", "At least 1"),
        ({"name": "   "}, "name", "Give the experiment a name"),
    ],
)
async def test_bad_values_are_shown_in_the_modal(
    bot: RunningBot, standin: SlackStandIn, changes: dict[str, Any], block: str, fragment: str
) -> None:
    status, answer = await submit(bot, **changes)
    assert status == 200
    assert answer["response_action"] == "errors"
    assert fragment in answer["errors"][block], answer["errors"]
    await bot.idle()
    assert not standin.messages  # nothing posted, nothing stored
    assert not await bot.runtime.services.store.list_experiments(standin.team_id)


async def test_a_charter_is_posted_and_its_thread_becomes_the_experiment(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    status, answer = await submit(bot)
    assert status == 200 and answer is None  # the modal closes
    [message] = standin.messages
    assert message.channel == CHANNEL and message.thread_ts is None
    assert "EXP-1 — Checkout v2" in header_of(message)
    rendered = texts_of(message)
    assert "&lt;because&gt;" in rendered  # the hypothesis is escaped
    assert "<@U0OWNER>" in rendered and "60/40" in rendered
    assert "Planned looks*\\n3" in rendered
    assert "Group-sequential (planned looks) — from the plan" in rendered
    assert "RICE score*\\n8,000" in rendered
    assert "`guardrail_refund` · higher is better · may not get more than 1% worse" in rendered

    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, message.ts)
    assert experiment is not None
    assert (experiment.status, experiment.created_by) == ("proposed", USER)
    assert experiment.charter.expected_split == (60.0, 40.0)
    assert experiment.charter.rice is not None and experiment.charter.rice.confidence == 0.8


async def test_a_csv_in_the_charter_thread_is_analysed_against_the_charter(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await submit(bot)
    [charter] = standin.messages
    await bot.upload([standin.add_file("week1.csv", AGAINST_CHARTER)], thread_ts=charter.ts)
    [card] = await cards_in(bot, charter.ts)
    rendered = texts_of(card)
    assert "Checkout v2" in header_of(card)
    assert "`EXP-1` · Look 1 of 3" in rendered
    assert "Healthy" in rendered  # 60/40 is the planned split: no sample ratio mismatch
    assert "guardrail_error` Δ +0.30 pp" in rendered and "— ok" in rendered  # 0.5 pp threshold
    assert "higher is better" in rendered  # the refund guardrail's direction
    assert "Look 1 of 3 (obf, information 33%)" in rendered  # 10,000 of 30,000 users
    assert "boundary |z| ≥" in rendered
    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, charter.ts)
    assert experiment is not None and experiment.status == "running"


async def test_a_channel_the_bot_is_not_in_is_explained_in_the_modal(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    standin.fail_next("chat.postMessage", status=200, error="not_in_channel")
    status, answer = await submit(bot)
    assert status == 200
    assert answer["response_action"] == "errors"
    assert "/invite" in answer["errors"]["name"]


async def test_planned_looks_use_users_so_far_over_the_target(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await submit(bot, guardrails=None)
    [charter] = standin.messages
    await bot.upload([standin.add_file("week1.csv", AGAINST_CHARTER)], thread_ts=charter.ts)
    await cards_in(bot, charter.ts)
    # 20,000 of 30,000 users; p ≈ 0.02 is below 0.05 but not below look 2's boundary.
    week2 = b"variant,users,conversions\ncontrol,12000,1200\ntreatment,8000,870\n"
    await bot.upload([standin.add_file("week2.csv", week2)], thread_ts=charter.ts)
    second = (await cards_in(bot, charter.ts, count=2))[1]
    rendered = texts_of(second)
    assert "`EXP-1` · Look 2 of 3" in rendered
    assert "Look 2 of 3 (obf, information 67%)" in rendered
    assert "not crossed: not yet conclusive" in rendered
    assert "Peeking: p &lt; 0.05 at look 2 of 3" in rendered
    assert "Hold" in header_of(second)
    assert "Since look 1:" in rendered
