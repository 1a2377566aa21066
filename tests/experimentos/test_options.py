"""Options from a Slack message's lines and from strings: what a PM types."""

from __future__ import annotations

import pytest

from experimentos.errors import OptionError
from experimentos.options import parse_message_options, parse_split


def test_message_lines_set_options_and_prose_is_ignored() -> None:
    text = (
        "Results of the checkout test :tada:\n"
        "name: Checkout v2\n"
        "split: 60/40\n"
        "guardrails: guardrail_error, guardrail_refund\n"
        "Control: Gate_30\n"
        "primary: retention_7\n"
        "higher-is-better: guardrail_refund\n"
        "margins: guardrail_refund=1%\n"
        "spending: pocock\n"
        "look: 2\nof: 5\n"
    )
    options = parse_message_options(text)
    assert options.name == "Checkout v2"
    assert options.split == (60.0, 40.0)
    assert options.control == "gate_30"
    assert options.primary == "retention_7"
    assert options.guardrails is not None
    assert [(g.name, g.higher_is_better) for g in options.guardrails] == [
        ("guardrail_error", False),
        ("guardrail_refund", True),
    ]
    assert options.margins == (("guardrail_refund", 0.01),)
    assert (options.look, options.of_looks, options.spending) == (2, 5, "pocock")


def test_empty_message_gives_defaults() -> None:
    options = parse_message_options(None)
    assert options.name is None and options.guardrails is None and options.split is None


@pytest.mark.parametrize("text", ["50/50", "50, 50", "0.5/0.5", "50% / 50%"])
def test_split_forms(text: str) -> None:
    shares = parse_split(text)
    assert len(shares) == 2 and shares[0] == shares[1]


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("split: fifty/fifty", "split"),
        ("split: 100", "split"),
        ("split: 50/-50", "split"),
        ("look: 7\nof: 5", "look"),
        ("look: two\nof: 5", "look"),
        ("margins: guardrail_x", "margins"),
        ("correction: magic", "correction"),
        ("spending: linear", "spending"),
    ],
)
def test_bad_values_raise_a_clear_option_error(line: str, word: str) -> None:
    with pytest.raises(OptionError) as caught:
        parse_message_options(line)
    assert word in caught.value.message


def test_hostile_name_is_kept_as_text_and_bounded() -> None:
    options = parse_message_options("name: <!channel> " + "x" * 500)
    assert options.name is not None
    assert options.name.startswith("<!channel>")
    assert len(options.name) <= 120
