"""The card and details as pure functions: golden JSON per example, Block Kit validity, limits."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from harness import mrkdwn_texts
from slack_sdk.models.blocks import Block, SectionBlock

from bot.render import blocks as b
from bot.render.card import card_text, render_card
from bot.render.details import render_details
from bot.render.format import esc, truncate
from bot.render.limits import MAX_MESSAGE_BLOCKS, fit_message, problems
from experimentos.analysis.assemble import analyze
from experimentos.model import Analysis

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = sorted((ROOT / "examples").glob("*.csv"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def analysis_of(path: Path) -> Analysis:
    return analyze(path.read_bytes(), file_name=path.name)


def rendered(analysis: Analysis) -> dict[str, Any]:
    return {
        "card": {
            "text": card_text(analysis),
            "blocks": [x.to_dict() for x in render_card(analysis, key="GOLDEN")],
        },
        "details": {"blocks": [x.to_dict() for x in render_details(analysis)]},
    }


def assert_valid_message(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk's validators (parse + to_dict round trip) and the limits it does not check."""
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block
    assert problems(blocks) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_golden_card_and_details(path: Path) -> None:
    """A golden file detects change; the figures it shows are checked independently in
    test_bot_card_figures.py. UPDATE_GOLDEN=1 writes only valid messages, and fails the run for
    each file it rewrote, so a regeneration is never silently green."""
    actual = rendered(analysis_of(path))
    golden = GOLDEN / f"{path.stem}.json"
    if UPDATE or not golden.exists():
        for message in actual.values():
            assert_valid_message(message["blocks"])
        text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
        if not golden.exists() or golden.read_text() != text:
            golden.write_text(text)
            pytest.fail(f"rewrote golden {golden.name}: review the diff, then re-run without it")
    expected = json.loads(golden.read_text())
    assert actual == expected, (
        f"card changed: review, then regenerate with UPDATE_GOLDEN=1 ({golden.name})"
    )
    for message in expected.values():
        assert_valid_message(message["blocks"])


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_our_own_mrkdwn_has_no_bare_angle_brackets(path: Path) -> None:
    message = rendered(analysis_of(path))
    for text in mrkdwn_texts(message["card"]["blocks"] + message["details"]["blocks"]):
        assert not re.search(r"[<>]", text), text


def test_card_shows_what_the_spec_asks_for() -> None:
    message = rendered(analysis_of(ROOT / "examples" / "launch.csv"))["card"]
    text = json.dumps(message, ensure_ascii=False)
    for fragment in [
        ":rocket: Launch",
        "Healthy",
        "SRM p",
        "pp",
        "95% CI",
        "relative",
        "Guardrails",
        "explanatory",
        "*Next*",
        "Methods:",
        "sha256",
        "launch.csv",
    ]:
        assert fragment in text, fragment
    assert message["text"].startswith("Launch: ")


def hostile_analysis(arms: int = 80) -> Analysis:
    """Many arms with long, hostile labels (built by copying results: analysing 80 arms is slow)."""
    label = "<!channel> & <@U1>" + "x" * 300
    content = (
        f"variant,users,conversions,guardrail_e\ncontrol,1000,100,5\n{label},1000,120,6\n".encode()
    )
    base = analyze(content, file_name="<!here>" + "n" * 200 + ".csv")
    primary = [
        dataclasses.replace(
            base.primary[0],
            treatment=dataclasses.replace(base.primary[0].treatment, arm=f"{label}{i}"),
        )
        for i in range(arms)
    ]
    guardrails = [
        dataclasses.replace(
            base.guardrails[0],
            metric=dataclasses.replace(base.guardrails[0].metric, treatment=p.treatment),
        )
        for p in primary
    ]
    return dataclasses.replace(
        base,
        primary=tuple(primary),
        guardrails=tuple(guardrails),
        secondary=tuple(primary[:30]),
        experiment=dataclasses.replace(base.experiment, name="<!channel> " + "N" * 400),
    )


def test_many_long_hostile_arms_stay_within_limits_and_escaped() -> None:
    analysis = hostile_analysis()
    for blocks in (render_card(analysis, key="k"), render_details(analysis)):
        dicts = [x.to_dict() for x in blocks]
        assert_valid_message(dicts)
        for text in mrkdwn_texts(dicts):
            assert "<!channel>" not in text and "<@U1>" not in text and "<!here>" not in text
    header = render_card(analysis, key="k")[0].to_dict()["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")


def test_fit_message_caps_blocks_keeps_buttons_and_one_table() -> None:
    many = [b.section(f"s{i}") for i in range(70)]
    tables = [b.table([["a", "b"], ["1", "2"]]), b.table([["c"], ["3"]])]
    buttons = b.actions(b.button("Memo", action_id="m", value={"k": "x"}))
    fitted = fit_message([*tables, *many, buttons])
    dicts = [x.to_dict() for x in fitted]
    assert len(dicts) == MAX_MESSAGE_BLOCKS
    assert dicts[-1]["type"] == "actions"
    assert sum(d["type"] == "table" for d in dicts) == 1
    assert "left out" in json.dumps(dicts)
    assert problems(dicts) == []


def test_problems_reports_what_slack_sdk_does_not_check() -> None:
    too_long = SectionBlock(fields=[{"type": "mrkdwn", "text": "x" * 2001}]).to_dict()
    found = problems([too_long] * 51 + [b.table([["a"]]).to_dict()] * 2)
    assert any("blocks > 50" in p for p in found)
    assert any("tables > 1" in p for p in found)
    assert any("field of 2001 chars" in p for p in found)


def test_escaping_and_truncation() -> None:
    assert esc("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"
    assert truncate("abc", 3) == "abc"
    assert truncate("a &amp; b", 5) == "a …"  # never half an entity
    assert len(truncate("x" * 500, 150)) == 150
