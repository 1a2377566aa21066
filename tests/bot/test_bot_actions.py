"""The card's buttons over real HTTP: Memo uploads files, Details posts, Record decision opens a
modal — all from the stored analysis whose id the button carries."""

from __future__ import annotations

import json

import pytest
from harness import CHANNEL, RunningBot, header_of
from slack_standin import SlackStandIn

from bot.render.card import ACTION_DETAILS, ACTION_MEMO, ACTION_RECORD

THREE_ARMS = (
    b"variant,users,conversions,guardrail_error,revenue_sum,revenue_sum_sq\n"
    b"control,15000,1500,150,75000,900000\n"
    b"variant_a,15000,1725,151,78000,940000\n"
    b"variant_b,15000,1530,149,75500,905000\n"
)


async def card_in_thread(bot: RunningBot, standin: SlackStandIn, content: bytes) -> tuple[str, str]:
    ts = await bot.upload([standin.add_file("three.csv", content)], text="name: Pricing page")
    [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    await bot.idle()
    memo = next(b for b in card.blocks if b["type"] == "actions")["elements"][0]
    return ts, memo["value"]


async def test_memo_uploads_markdown_and_html_into_the_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await card_in_thread(bot, standin, THREE_ARMS)
    status, body = await bot.action(ACTION_MEMO, value, thread_ts=ts)
    assert status == 200 and body == ""
    [upload] = await standin.wait_for(lambda: standin.uploads)
    assert upload["channel_id"] == CHANNEL
    assert upload["thread_ts"] == ts
    names = sorted(f["title"] for f in upload["files"])
    assert names == ["Pricing page — memo (HTML)", "Pricing page — memo (Markdown)"]
    contents = b"".join(standin.upload_bodies.values())
    assert b"Pricing page" in contents
    assert b"<html" in contents.lower()
    # The upload URL step carries no bot token.
    assert all("Authorization" not in c.headers for c in standin.calls_to("upload"))


async def test_details_posts_every_arm_in_the_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await card_in_thread(bot, standin, THREE_ARMS)
    status, _ = await bot.action(ACTION_DETAILS, value, thread_ts=ts)
    assert status == 200
    details = await standin.wait_for(
        lambda: [m for m in standin.thread(CHANNEL, ts) if header_of(m).startswith("Details")]
    )
    blocks = details[0].blocks
    [table] = [b for b in blocks if b["type"] == "table"]
    arms = [row[0]["text"] for row in table["rows"][1:]]
    assert arms == ["control", "variant_a", "variant_b"]
    rendered = json.dumps(blocks)
    assert "revenue" in rendered
    assert "Bayesian view" in rendered
    # …then the forest plot, with alt text for screen readers.
    [upload] = await standin.wait_for(lambda: standin.uploads)
    assert upload["thread_ts"] == ts
    assert [f["title"] for f in upload["files"]] == ["Pricing page — forest plot"]
    [step] = standin.calls_to("files.getUploadURLExternal")
    assert step.args["filename"].endswith(".png") and "variant_a" in step.args["alt_txt"]
    assert len(step.args["alt_txt"]) <= 1000
    assert next(iter(standin.upload_bodies.values())).startswith(b"\x89PNG")


async def test_a_ratio_named_in_the_message_reaches_the_details(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    """A user-level file with ``ratio: aov = revenue / orders`` in its message."""
    rows = [
        f"{i},{'control' if i % 2 else 'treatment'},{int(i % 3 == 0)},{(i % 3 == 0) * (30 + i % 7)},"
        f"{(i % 3 == 0) * (1 + i % 4)}"
        for i in range(600)
    ]
    content = ("user_id,variant,converted,revenue,orders\n" + "\n".join(rows) + "\n").encode()
    ts = await bot.upload(
        [standin.add_file("users.csv", content)], text="name: Basket\nratio: aov = revenue / orders"
    )
    [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    await bot.idle()
    value = next(b for b in card.blocks if b["type"] == "actions")["elements"][0]["value"]
    status, _ = await bot.action(ACTION_DETAILS, value, thread_ts=ts)
    assert status == 200
    details = await standin.wait_for(
        lambda: [m for m in standin.thread(CHANNEL, ts) if header_of(m).startswith("Details")]
    )
    assert "`aov` (ratio)" in json.dumps(details[0].blocks)


@pytest.mark.parametrize("key", ["gone", "999999"])
async def test_a_card_whose_analysis_is_not_in_the_history_is_explained(
    bot: RunningBot, standin: SlackStandIn, key: str
) -> None:
    status, _ = await bot.action(ACTION_MEMO, json.dumps({"k": key}), response_id="exp")
    assert status == 200
    [answer] = await standin.wait_for(lambda: standin.responses)
    assert answer["response_type"] == "ephemeral"
    assert "can't find this card's analysis in the history" in answer["text"]
    assert not standin.uploads


async def test_buttons_carry_the_stored_analysis_id(bot: RunningBot, standin: SlackStandIn) -> None:
    _ts, value = await card_in_thread(bot, standin, THREE_ARMS)
    analysis_id = int(json.loads(value)["k"])
    stored = await bot.runtime.services.store.get_analysis(standin.team_id, analysis_id)
    assert stored is not None and stored.result["experiment"]["name"] == "Pricing page"


async def test_record_decision_opens_the_decision_modal(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts, value = await card_in_thread(bot, standin, THREE_ARMS)
    status, _ = await bot.action(ACTION_RECORD, value, thread_ts=ts)
    assert status == 200
    [call] = await standin.wait_for(lambda: standin.calls_to("views.open"))
    view = call.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert call.args["trigger_id"] == "1.2.3"
    assert view["callback_id"] == "decision_record"
    assert json.loads(view["private_metadata"]) == {"a": int(json.loads(value)["k"])}
    rendered = json.dumps(view["blocks"])
    assert "Launch" in rendered and "EXP-1" in rendered


async def test_a_failing_memo_upload_is_reported_with_an_error_id(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    _ts, value = await card_in_thread(bot, standin, THREE_ARMS)
    standin.fail_next("files.getUploadURLExternal", status=500)
    status, _ = await bot.action(ACTION_MEMO, value, response_id="fail")
    assert status == 200
    [answer] = await standin.wait_for(lambda: standin.responses)
    assert answer["response_type"] == "ephemeral"
    assert "Error id" in json.dumps(answer["blocks"])


async def test_app_home_lists_recent_verdicts(bot: RunningBot, standin: SlackStandIn) -> None:
    await card_in_thread(bot, standin, THREE_ARMS)
    status, _ = await bot.event({"type": "app_home_opened", "user": "U0ANALYST", "tab": "home"})
    assert status == 200
    [call] = await standin.wait_for(lambda: standin.calls_to("views.publish"))
    view = call.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home"
    assert "Pricing page" in json.dumps(view["blocks"])
    assert call.args["user_id"] == "U0ANALYST"
