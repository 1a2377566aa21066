"""``/experiment power`` sized for the risk-aware rule says so on the card, with the per-test α
and power it used; the users per variant follow Fleiss' two-proportion formula at those levels."""

from __future__ import annotations

import json
import math

from harness import RunningBot
from scipy.stats import norm
from slack_standin import SlackStandIn


def _fleiss(p1: float, p2: float, alpha: float, power: float) -> int:
    """Users per arm for a two-sided test of two proportions (Fleiss, Levin & Paik 2003, 4.14)."""
    mean = (p1 + p2) / 2
    z_a, z_b = norm.isf(alpha / 2), norm.isf(1 - power)
    root = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p2 - p1) ** 2)


async def test_power_for_the_risk_aware_rule_names_its_sizing(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await bot.command("power baseline=10% mde=1pp success=2 guardrails=3", response_id="ra")
    answer = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "ra"]
    )
    rendered = json.dumps(answer[0]["blocks"], ensure_ascii=False)
    # α over the 2 success metrics, power 1 − β/(G + 1) = 1 − 0.2/4 per test
    expected = _fleiss(0.10, 0.11, alpha=0.05 / 2, power=0.95)
    assert f"{expected:,} users per variant" in rendered
    assert "sized for the risk-aware rule: 2 success metrics (α 0.025 per test" in rendered
    assert "3 guardrails (power 95% per test" in rendered


async def test_a_plain_power_answer_does_not_mention_the_risk_aware_rule(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await bot.command("power baseline=10% mde=1pp", response_id="plain")
    answer = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == "plain"]
    )
    rendered = json.dumps(answer[0]["blocks"], ensure_ascii=False)
    assert f"{_fleiss(0.10, 0.11, alpha=0.05, power=0.8):,} users per variant" in rendered
    assert "risk-aware" not in rendered
