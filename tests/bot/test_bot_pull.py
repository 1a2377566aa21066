"""``/experiment pull growthbook EXP_KEY`` through the real Bolt app, the Slack stand-in and the
GrowthBook stand-in (real HTTP both ways): the card is the one a CSV of the same numbers gets; the
key never reaches Slack; failures are one ephemeral line."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from harness import CHANNEL, RunningBot, cards_in
from platform_standins import GB_KEY, aggregated_csv, draw_arms, revenue_per_order, statsig
from slack_standin import SlackStandIn

from bot.listeners.commands import pull

STATSIG_KEY = "console-slack-test-key"


def the_numbers_as_csv() -> bytes:
    """What GrowthBook serves, written as an aggregated CSV: 0/1 counts, the revenue sums, and the
    ratio metric as n, Σ, Σ² from its ratio and delta-method sd (gbstats)."""
    arms = draw_arms()
    lines = aggregated_csv(arms).strip().split("\n")
    lines[0] += ",revenue_per_order_sum,revenue_per_order_sum_sq,revenue_per_order_n"
    for i, arm in enumerate(arms, start=1):
        ratio = revenue_per_order(arm)
        sd = math.sqrt(ratio.variance)
        total = ratio.mean * arm.n
        lines[i] += f",{total!r},{(arm.n - 1) * sd * sd + ratio.mean**2 * arm.n!r},{arm.n}"
    return ("\n".join(lines) + "\n").encode()


def top_level_cards(standin: SlackStandIn) -> list[Any]:
    return [
        m
        for m in standin.messages
        if m.channel == CHANNEL
        and m.thread_ts is None
        and m.blocks
        and m.blocks[0].get("type") == "header"
    ]


def responses(standin: SlackStandIn) -> list[str]:
    return [str(c.args.get("text", "")) for c in standin.calls_to("response_url")]


def _without_platform_lines(text: str) -> str:
    """A section's text without the findings that set the platform's figures next to ours (and
    without the Findings heading when nothing else is under it)."""
    lines = [
        line
        for line in text.split("\n")
        if not (
            line.startswith("• ")
            and ("GrowthBook" in line or "Statsig" in line or "ratio metric" in line)
        )
    ]
    if lines and lines[-1] == "*Findings:*":
        lines.pop()
    return "\n".join(lines)


def comparable(message: Any, *, drop_platform_lines: bool = False) -> str:
    """The card without what names the look: experiment ref, name, record ids, the source's
    checksum."""
    blocks = json.loads(json.dumps(message.blocks))
    if drop_platform_lines:
        for block in blocks:
            if block.get("type") == "section" and "text" in block:
                block["text"]["text"] = _without_platform_lines(block["text"]["text"])
    text = json.dumps(blocks, ensure_ascii=False)
    text = re.sub(r"sha256 `[0-9a-f]*`", "sha256 `…`", text)
    text = re.sub(r"EXP-\d+", "EXP-n", text)
    text = re.sub(r'"value": "(?:[^"\\]|\\.)*"', '"value": "…"', text)
    for name in (
        "Homepage CTA",
        "homepage.csv",
        "growthbook:exp_abc123",
        "statsig:homepage_cta",
        "homepage",
    ):
        text = text.replace(name, "NAME")
    return text


async def test_pull_posts_the_card_a_csv_of_the_same_numbers_gets(
    bot: RunningBot, standin: SlackStandIn, gb
) -> None:
    status, _ = await bot.command("pull growthbook exp_abc123")
    assert status == 200
    await standin.wait_for(lambda: top_level_cards(standin))
    await bot.idle()
    (pulled,) = top_level_cards(standin)
    assert "Launch" in pulled.blocks[0]["text"]["text"]
    ts = await bot.upload(
        [standin.add_file("homepage.csv", the_numbers_as_csv())],
        text="name: Homepage CTA\nprimary: signups\nguardrails: errors",
    )
    (uploaded,) = await cards_in(bot, ts)
    # the same card, plus the lines that set GrowthBook's figures next to ours
    assert "GrowthBook (frequentist, relative)" in json.dumps(pulled.blocks)
    assert comparable(pulled, drop_platform_lines=True) == comparable(uploaded)
    said = responses(standin)
    assert any("Pulling `exp_abc123` from GrowthBook" in t for t in said)
    assert any("pulled from GrowthBook" in t for t in said)
    everything = json.dumps([c.args for c in standin.calls], default=str)
    assert GB_KEY not in everything
    # a CSV in the pulled card's thread is the experiment's next look
    await bot.upload([standin.add_file("look2.csv", the_numbers_as_csv())], thread_ts=pulled.ts)
    (second,) = await cards_in(bot, pulled.ts)
    assert "look 2" in json.dumps(second.blocks).lower()


async def test_pull_failures_are_one_ephemeral_line(
    bot: RunningBot, standin: SlackStandIn, gb, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.command("pull growthbook exp_nope", response_id="unknown")
    await standin.wait_for(lambda: any("no experiment" in t for t in responses(standin)))
    monkeypatch.setenv("GROWTHBOOK_API_KEY", "secret_wrong")
    await bot.command("pull growthbook exp_abc123", response_id="wrong")
    await standin.wait_for(lambda: any("refused the API key" in t for t in responses(standin)))
    await bot.command("pull hackle 130", response_id="hackle")
    await bot.command("pull optimizely x", response_id="usage")
    monkeypatch.delenv("GROWTHBOOK_API_KEY")
    await bot.command("pull growthbook exp_abc123", response_id="unset")
    await bot.idle()
    said = responses(standin)
    assert any("Hackle publishes no results API" in t for t in said)
    assert any(t.startswith("Usage: `/experiment pull") for t in said)
    assert any("GrowthBook is not connected" in t for t in said)
    assert not top_level_cards(standin)
    for call in standin.calls_to("response_url"):
        assert call.args.get("response_type") == "ephemeral"
        assert "secret_wrong" not in str(call.args) and "\n" not in str(call.args.get("text"))


async def test_a_fresh_pull_runs_a_growthbook_snapshot_first(
    bot: RunningBot, standin: SlackStandIn, gb
) -> None:
    """``fresh``: GrowthBook's snapshot is started and polled (running, then success: one 5 s
    wait) before the results are read and the card posted."""
    status, _ = await bot.command("pull growthbook exp_abc123 fresh")
    assert status == 200
    await standin.wait_for(lambda: top_level_cards(standin))
    await bot.idle()
    calls = [(c.method, c.path) for c in gb.calls]
    snapshot = calls.index(("POST", "/v1/experiments/exp_abc123/snapshot"))
    polls = [i for i, c in enumerate(calls) if c == ("GET", "/v1/snapshots/snp_new")]
    results = calls.index(("GET", "/v1/experiments/exp_abc123/results"))
    assert snapshot < polls[0] and len(polls) == 2 and polls[-1] < results
    (card,) = top_level_cards(standin)
    assert "Launch" in card.blocks[0]["text"]["text"]


async def test_a_fresh_pull_still_running_is_one_line(
    bot: RunningBot, standin: SlackStandIn, gb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot still running when the wait is over: one ephemeral line, no card; the snapshot
    goes on in GrowthBook and a later pull reads it."""
    monkeypatch.setattr(pull, "FRESH_MARGIN_S", 1e6)  # no time left to wait
    await bot.command("pull growthbook exp_abc123 fresh", response_id="fresh")
    await standin.wait_for(lambda: any("still running" in t for t in responses(standin)))
    await bot.idle()
    [line] = [t for t in responses(standin) if "still running" in t]
    assert "snp_new" in line and "without a fresh snapshot" in line and "\n" not in line
    assert not top_level_cards(standin)
    assert ("GET", "/v1/experiments/exp_abc123/results") not in [
        (c.method, c.path) for c in gb.calls
    ]


def test_fresh_is_a_growthbook_pull_option_only() -> None:
    assert pull.parse_pull("growthbook exp_1 fresh phase=0").fetch == {
        "snapshot": True,
        "phase": 0,
    }
    for args in ("statsig exp_1 fresh", "growthbook exp_1 fresh=yes"):
        with pytest.raises(pull.PullRefused, match="is not a pull option"):
            pull.parse_pull(args)


async def test_a_statsig_pull_posts_the_card_a_csv_of_the_same_numbers_gets(
    bot: RunningBot, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = statsig(draw_arms(), api_key=STATSIG_KEY)
    monkeypatch.setenv("STATSIG_CONSOLE_KEY", STATSIG_KEY)
    monkeypatch.setenv("STATSIG_API_URL", server.url)
    try:
        await bot.command("pull statsig homepage_cta")
        await standin.wait_for(lambda: top_level_cards(standin))
        await bot.idle()
    finally:
        server.stop()
    (pulled,) = top_level_cards(standin)
    assert "Statsig Pulse, CUPED off" in json.dumps(pulled.blocks)
    [call] = [c for c in server.calls if c.path.endswith("pulse_results")]
    assert call.query["cuped"] == "false"
    ts = await bot.upload(
        [standin.add_file("homepage.csv", aggregated_csv(draw_arms()).encode())],
        text="name: Homepage CTA\nprimary: signups",
    )
    (uploaded,) = await cards_in(bot, ts)
    assert comparable(pulled, drop_platform_lines=True) == comparable(uploaded)
    assert STATSIG_KEY not in json.dumps([c.args for c in standin.calls], default=str)


async def test_pull_without_a_key_lists_the_running_experiments(
    bot: RunningBot, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = statsig(draw_arms(), api_key=STATSIG_KEY)
    monkeypatch.setenv("STATSIG_CONSOLE_KEY", STATSIG_KEY)
    monkeypatch.setenv("STATSIG_API_URL", server.url)
    try:
        await bot.command("pull statsig", response_id="list")
        await standin.wait_for(lambda: any("active experiments" in t for t in responses(standin)))
        await bot.idle()
    finally:
        server.stop()
    [listing] = [t for t in responses(standin) if "active experiments" in t]
    lines = listing.split("\n")
    # the stand-in holds 150 active experiments over two pages: 20 shown, the rest counted
    assert lines[0].startswith("*Statsig: 150 active experiments*")
    assert len([line for line in lines if line.startswith("• `")]) == 20
    assert lines[-1] == "…and 130 more: `experimentos experiments statsig` lists all."
    pages = [c.query.get("page") for c in server.calls if c.path == "/console/v1/experiments"]
    assert pages == ["1", "2"]
    assert not top_level_cards(standin) and STATSIG_KEY not in listing
