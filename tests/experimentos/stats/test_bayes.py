"""Bayesian view (SPEC §2.7): Beta(1,1) posteriors, by quadrature, against an exact closed form,
seeded Monte Carlo and gbstats' normal approximation."""

from __future__ import annotations

import numpy as np
import pytest
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.models.statistics import ProportionStatistic
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import betaln, logsumexp

from experimentos.model import ProportionStats
from experimentos.stats.bayes import beta_view

DRAWS = 1_000_000


def miller_prob_b_beats_a(a: ProportionStats, b: ProportionStats) -> float:
    """P(θ_B > θ_A) for Beta(1,1) priors, exactly (Evan Miller, "Formulas for Bayesian A/B
    testing", 2015): Σ_{i=0}^{α_B−1} B(α_A+i, β_A+β_B) / ((β_B+i)·B(1+i, β_B)·B(α_A, β_A))."""
    alpha_a, beta_a = 1 + a.conversions, 1 + a.users - a.conversions
    alpha_b, beta_b = 1 + b.conversions, 1 + b.users - b.conversions
    i = np.arange(alpha_b, dtype=float)
    log_terms = (
        betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - betaln(1 + i, beta_b)
        - betaln(alpha_a, beta_a)
    )
    return float(np.exp(logsumexp(log_terms)))


def _view(*arms: ProportionStats):
    labels = ["control", *(f"t{k}" for k in range(1, len(arms)))]
    return beta_view(list(zip(labels, arms, strict=True)), control="control")


@st.composite
def arm(draw, max_users: int = 20_000):
    users = draw(st.integers(1, max_users))
    return ProportionStats(users, draw(st.integers(0, users)))


@settings(max_examples=150, deadline=None)
@given(arm(), arm())
def test_chance_to_beat_control_matches_the_exact_closed_form(control, treatment):
    ours = _view(control, treatment).arms[1].chance_to_beat_control
    assert ours == pytest.approx(miller_prob_b_beats_a(control, treatment), abs=1e-5)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (ProportionStats(100, 10), ProportionStats(100, 15)),
        (ProportionStats(10_000, 1_000), ProportionStats(10_000, 1_050)),
        (ProportionStats(1_000_000, 20_000), ProportionStats(1_000_000, 20_300)),
        (ProportionStats(20, 0), ProportionStats(20, 3)),
        (ProportionStats(50, 49), ProportionStats(50, 50)),
    ],
)
def test_chance_to_beat_control_reference_cases(control, treatment):
    ours = _view(control, treatment).arms[1].chance_to_beat_control
    assert ours == pytest.approx(miller_prob_b_beats_a(control, treatment), abs=2e-6)


def _monte_carlo(arms: list[ProportionStats], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([rng.beta(1 + a.conversions, 1 + a.users - a.conversions, DRAWS) for a in arms])


SCENARIOS = [
    [ProportionStats(1_000, 100), ProportionStats(1_000, 115)],
    [ProportionStats(5_000, 400), ProportionStats(5_000, 430), ProportionStats(5_000, 410)],
    [
        ProportionStats(2_000, 60),
        ProportionStats(2_100, 75),
        ProportionStats(1_900, 58),
        ProportionStats(2_000, 80),
    ],
    [ProportionStats(30, 2), ProportionStats(25, 5), ProportionStats(40, 3)],
]


@pytest.mark.parametrize("arms", SCENARIOS)
def test_expected_loss_and_prob_best_match_seeded_monte_carlo(arms):
    """10⁶ seeded draws per arm; tolerance 5 Monte Carlo standard errors."""
    view = _view(*arms)
    draws = _monte_carlo(arms, seed=20240601)
    best = draws.max(axis=0)
    winners = np.bincount(draws.argmax(axis=0), minlength=len(arms)) / DRAWS
    for k, result in enumerate(view.arms):
        loss = best - draws[k]
        se_loss = loss.std() / np.sqrt(DRAWS)
        assert result.expected_loss == pytest.approx(loss.mean(), abs=5 * se_loss + 1e-7)
        se_best = np.sqrt(winners[k] * (1 - winners[k]) / DRAWS)
        assert result.prob_best == pytest.approx(winners[k], abs=5 * se_best + 1e-5)
        if k:
            beats = (draws[k] > draws[0]).mean()
            se_beats = np.sqrt(beats * (1 - beats) / DRAWS)
            assert result.chance_to_beat_control == pytest.approx(beats, abs=5 * se_beats + 1e-5)
    assert view.arms[0].chance_to_beat_control is None


@settings(max_examples=60, deadline=None)
@given(st.lists(arm(max_users=100_000), min_size=3, max_size=4))
def test_prob_best_sums_to_one(arm_list):
    """To the trapezoid rule's accuracy: worst seen 3.5e-5, for arms at 100% conversion, whose
    Beta(n + 1, 1) density is steepest at the end of the interval (elsewhere below 1e-6)."""
    view = _view(*arm_list)
    assert sum(a.prob_best for a in view.arms) == pytest.approx(1.0, abs=1e-4)
    assert all(a.expected_loss >= 0 for a in view.arms)


def test_deterministic():
    arms = SCENARIOS[2]
    assert _view(*arms) == _view(*arms)


# --------------------------------------------------------------------------- gbstats


def _gbstats_chance_to_win(control: ProportionStats, treatment: ProportionStats) -> float:
    result = EffectBayesianABTest(
        ProportionStatistic(n=control.users, sum=control.conversions),
        ProportionStatistic(n=treatment.users, sum=treatment.conversions),
        EffectBayesianConfig(),
    ).compute_result()
    return float(result.chance_to_win)


def _relative_z(control: ProportionStats, treatment: ProportionStats) -> float:
    c, t = control.rate, treatment.rate
    var_c, var_t = c * (1 - c) / control.users, t * (1 - t) / treatment.users
    return (t / c - 1) / np.sqrt(var_t / c**2 + t**2 * var_c / c**4)


@pytest.mark.parametrize(
    ("control", "treatment", "ours", "gbstats"),
    [
        # users and conversions per arm; ours (exact Beta) and gbstats' chance to win
        (ProportionStats(100, 10), ProportionStats(100, 15), 0.85328, 0.80796),
        (ProportionStats(10_000, 1_000), ProportionStats(10_000, 1_050), 0.87808, 0.87234),
        (ProportionStats(100_000, 5_000), ProportionStats(100_000, 5_100), 0.84640, 0.84401),
        (ProportionStats(1_000_000, 20_000), ProportionStats(1_000_000, 20_300), 0.93444, 0.93300),
    ],
)
def test_gbstats_chance_to_win_is_a_normal_approximation_on_the_relative_lift(
    control, treatment, ours, gbstats
):
    """gbstats' Bayesian test (default: relative lift, improper flat prior) puts a normal
    posterior N(t/c − 1, delta-method variance) on the relative lift, so its chance to win is
    Φ(z_rel) with z_rel = (t − c) / √(v_t + (t/c)²·v_c). Ours is the exact P(θ_t > θ_c) under
    Beta(1,1) priors, close to Φ((t − c)/√(v_t + v_c)). For a positive lift t/c > 1, so gbstats
    is systematically lower: by 0.045 at 100 users, 0.006 at 10,000, 0.0024 at 100,000 and
    0.0014 at 1,000,000 users per arm (the gap shrinks like the lift's standard error)."""
    view = _view(control, treatment)
    chance = view.arms[1].chance_to_beat_control
    assert chance == pytest.approx(ours, abs=1e-5)
    assert chance == pytest.approx(miller_prob_b_beats_a(control, treatment), abs=1e-6)
    theirs = _gbstats_chance_to_win(control, treatment)
    assert theirs == pytest.approx(gbstats, abs=1e-5)
    assert theirs == pytest.approx(stats.norm.cdf(_relative_z(control, treatment)), rel=1e-9)
    assert theirs < chance


@settings(max_examples=60, deadline=None)
@given(
    st.integers(100_000, 2_000_000),
    st.floats(0.01, 0.5),
    st.floats(-0.05, 0.05),
)
def test_gbstats_chance_to_win_agrees_within_its_approximation_error_at_large_n(
    users, rate, relative_lift
):
    """At ≥ 100,000 users per arm and rates of 1–50%, the two differ by less than 0.01: the gap
    |Φ(z_abs) − Φ(z_rel)| from the ratio's delta method plus the Beta prior's 1/n terms."""
    control = ProportionStats(users, round(users * rate))
    treatment = ProportionStats(users, round(users * rate * (1 + relative_lift)))
    chance = _view(control, treatment).arms[1].chance_to_beat_control
    theirs = _gbstats_chance_to_win(control, treatment)
    c, t = control.rate, treatment.rate
    z_abs = (t - c) / np.sqrt(t * (1 - t) / users + c * (1 - c) / users)
    gap = abs(stats.norm.cdf(z_abs) - stats.norm.cdf(_relative_z(control, treatment)))
    assert abs(chance - theirs) <= gap + 2e-3
    assert abs(chance - theirs) < 0.01
