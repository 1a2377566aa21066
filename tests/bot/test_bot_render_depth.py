"""Segments, Simpson's paradox and guardrail margins reach the Slack Details and the card."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.render.card import render_card
from bot.render.details import render_details
from experimentos.analysis.assemble import analyze
from experimentos.model import Options

SIMPSON_CSV = b"""variant,segment,users,conversions
control,mobile,8000,800
treatment,mobile,2000,180
control,desktop,2000,600
treatment,desktop,8000,2320
"""


def _texts(blocks: list[Block]) -> str:
    return "\n".join(str(block.to_dict()) for block in blocks)


def test_details_list_segments_and_simpsons_paradox() -> None:
    analysis = analyze(SIMPSON_CSV, file_name="simpson.csv")
    blocks = render_details(analysis)
    text = _texts(blocks)
    assert "*Segments*" in text and "mobile" in text and "desktop" in text
    assert "Simpson's paradox" in text
    assert len(blocks) <= 50
    for block in blocks:
        assert Block.parse(block.to_dict()) is not None


def test_card_guardrail_line_says_within_or_breaches_margin() -> None:
    csv = (
        b"variant,users,conversions,guardrail_checkout\n"
        b"control,2000000,220000,200000\ntreatment,2000000,221000,197000\n"
    )
    options = Options(
        higher_is_better=frozenset({"guardrail_checkout"}), margins=(("guardrail_checkout", 0.01),)
    )
    analysis = analyze(csv, file_name="margin.csv", options=options)
    text = _texts(render_card(analysis, key="1"))
    assert "breaches margin (1.0% relative, one-sided)" in text
