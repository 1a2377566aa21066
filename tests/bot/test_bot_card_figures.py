"""Every figure on the card of each bundled example, recomputed here from the CSV's raw counts.

The golden files (test_bot_render.py) detect that a card changed; this file checks that what it
shows is right. Nothing here comes from the analysis: the counts are read with the csv module,
the statistics come from statsmodels and scipy, and the figures are rounded here by the card's
documented rules (rates to 0.01 %, lifts to 0.01 pp, relative lifts to 0.1 %; p to 2 decimals,
3 below 0.1, 4 below 0.01, "< 0.001" below that; the headline's p to 3 decimals, 4 below 0.01,
"< 0.0001" below that; negatives with a true minus sign on the card, a hyphen in the headline).
"""

from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path

import numpy as np
import pytest
from harness import mrkdwn_texts
from scipy import special, stats
from scipy.stats.contingency import expected_freq
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests

from bot.render.card import card_text, render_card
from experimentos.analysis.assemble import analyze

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.csv"))
MEASURED = [p for p in EXAMPLES if p.stem != "blocked"]
MINUS = "\u2212"


# --------------------------------------------------------------------------- the card's rounding


def _card_sign(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def pp(delta: float, *, card: bool = True) -> str:
    text = f"{delta * 100:+.2f} pp"
    return _card_sign(text) if card else text


def rel(share: float, *, card: bool = True) -> str:
    text = f"{share * 100:+.1f}%"
    return _card_sign(text) if card else text


def card_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def headline_p(p: float) -> str:
    if p < 0.0001:
        return "p < 0.0001"
    return f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"


def chance(p: float) -> str:
    return "> 99.9%" if p > 0.999 else "< 0.1%" if p < 0.001 else f"{p * 100:.1f}%"


# --------------------------------------------------------------------------- the statistics


def read_counts(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def two_proportions(x_c: int, n_c: int, x_t: int, n_t: int) -> tuple[float, float, float, float]:
    """(lift, CI low, CI high, p): statsmodels' unpooled Wald test and interval (treatment is its
    sample 1). Every example has all expected cells ≥ 5, the Wald path (checked with scipy)."""
    table = np.array([[x_t, n_t - x_t], [x_c, n_c - x_c]], dtype=float)
    assert expected_freq(table).min() >= 5
    test = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    low, high = sm_proportion.confint_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff"
    )
    return x_t / n_t - x_c / n_c, low, high, test.pvalue


def chance_to_beat(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    """P(p_t > p_c) under Beta(1 + x, 1 + n − x) posteriors, by the closed form for integer
    parameters (Evan Miller, "Formulas for Bayesian A/B testing", 2015):
    Σ_{i<α_t} B(α_c + i, β_c + β_t) / ((β_t + i) · B(1 + i, β_t) · B(α_c, β_c))."""
    a_c, b_c, a_t, b_t = 1 + x_c, 1 + n_c - x_c, 1 + x_t, 1 + n_t - x_t
    i = np.arange(a_t)
    terms = (
        special.betaln(a_c + i, b_c + b_t)
        - np.log(b_t + i)
        - special.betaln(1 + i, b_t)
        - special.betaln(a_c, b_c)
    )
    return float(np.exp(terms).sum())


def card_of(path: Path) -> tuple[str, str]:
    """The card's fallback text and all its mrkdwn, with Slack's escapes undone."""
    analysis = analyze(path.read_bytes(), file_name=path.name)
    blocks = [b.to_dict() for b in render_card(analysis, key="FIGURES")]
    return html.unescape(card_text(analysis)), html.unescape("\n".join(mrkdwn_texts(blocks)))


# --------------------------------------------------------------------------- the checks


@pytest.mark.parametrize("path", MEASURED, ids=[p.name for p in MEASURED])
def test_every_figure_on_the_card_is_recomputed_independently(path: Path) -> None:
    rows = read_counts(path)
    text, card = card_of(path)
    (control,) = [r for r in rows if r["variant"] == "control"]
    treatments = [r for r in rows if r is not control]
    x_c, n_c = int(control["conversions"]), int(control["users"])
    several = len(treatments) > 1

    # health: the SRM chi-square against an equal split (scipy)
    srm_p = stats.chisquare([int(r["users"]) for r in rows]).pvalue
    assert f"SRM {card_p(srm_p)}" in card
    if srm_p < 0.001:
        assert f"(chi-square p = {srm_p:.2g})" in card

    # primary: rates, lift, 95 % CI, relative lift, p (and Holm-adjusted p with several arms)
    primary = {}
    for row in treatments:
        x_t, n_t = int(row["conversions"]), int(row["users"])
        primary[row["variant"]] = (x_t, n_t, *two_proportions(x_c, n_c, x_t, n_t))
    adjusted = multipletests([v[-1] for v in primary.values()], method="holm")[1]
    assert f"`control` {x_c / n_c * 100:.2f}% ({x_c:,} / {n_c:,})" in card
    headlines = []
    for (arm, (x_t, n_t, lift, low, high, p)), p_adj in zip(primary.items(), adjusted, strict=True):
        assert f"`{arm}` {x_t / n_t * 100:.2f}% ({x_t:,} / {n_t:,})" in card
        relative = (x_t / n_t) / (x_c / n_c) - 1
        line = (
            f"Lift *{pp(lift)}* (95% CI {pp(low)[:-3]} to {pp(high)}) · "
            f"relative {rel(relative)} · {card_p(p)}"
        )
        if several:
            line += f" (adjusted {card_p(p_adj)})"
        assert line in card, (line, card)
        headlines.append(
            f"conversions {pp(lift, card=False)} ({rel(relative, card=False)}, {headline_p(p)})"
        )
        assert f"`{arm}` {chance(chance_to_beat(x_c, n_c, x_t, n_t))}" in card

    # the headline names the figures of one treatment (not for a sample ratio mismatch)
    if srm_p >= 0.001:
        assert any(h in text for h in headlines), (headlines, text)

    # guardrails: lift in pp and p of each guardrail count (all below users: proportions)
    for column in (c for c in rows[0] if c.startswith("guardrail_")):
        g_c = int(control[column])
        for row in treatments:
            g_t, n_t = int(row[column]), int(row["users"])
            lift, _, _, p = two_proportions(g_c, n_c, g_t, n_t)
            prefix = f"`{row['variant']}` " if several else ""
            assert f"{prefix}`{column}` Δ {pp(lift)} ({card_p(p)})" in card


def test_sample_size_advice_on_a_non_significant_card_is_statsmodels_one_tail_formula() -> None:
    """The not-significant card's next action: users per arm to detect the observed lift with 80 %
    power (statsmodels' one-tail sample size, the formula of SPEC §2.10), and how many more."""
    path = ROOT / "examples" / "not_significant.csv"
    control, treatment = read_counts(path)
    x_c, n_c = int(control["conversions"]), int(control["users"])
    x_t, n_t = int(treatment["conversions"]), int(treatment["users"])
    needed = math.ceil(
        sm_proportion.samplesize_proportions_2indep_onetail(
            x_t / n_t - x_c / n_c, x_c / n_c, 0.8, ratio=1, alpha=0.05
        )
    )
    _, card = card_of(path)
    assert (
        f"about {needed:,} users per arm are needed (about {needed - n_t:,} more per arm)" in card
    )


def test_blocked_card_shows_no_figures() -> None:
    text, card = card_of(ROOT / "examples" / "blocked.csv")
    assert "Lift" not in card and "SRM p" not in card and " pp" not in text


def test_the_recomputation_would_see_a_wrong_figure() -> None:
    """The helpers are strict: a CI built with the 90 % quantile does not print as the card's."""
    x_c, n_c, x_t, n_t = 2000, 20_000, 2200, 20_000
    lift, low, _, _ = two_proportions(x_c, n_c, x_t, n_t)
    se = math.sqrt(x_t / n_t * (1 - x_t / n_t) / n_t + x_c / n_c * (1 - x_c / n_c) / n_c)
    assert pp(lift - 1.645 * se) != pp(low)
    assert chance_to_beat(100, 1000, 100, 1000) == pytest.approx(0.5, abs=1e-9)
