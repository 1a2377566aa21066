"""Sequential looks in the analysis, peeking warnings, and the look diff.

The boundaries are the published ones for 5 equally spaced looks, two-sided α = 0.05 (rpact
getDesignGroupSequential(kMax = 5, alpha = 0.025, typeOfDesign = "asOF" / "asP") and gsDesign
sfLDOF / sfLDPocock, as in stats/test_sequential.py); the z of the example and the boundary of
an unequal design are computed here with statsmodels and scipy.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from scipy import optimize, stats
from statsmodels.stats import proportion as sm_proportion

from experimentos.analysis.assemble import analyze
from experimentos.analysis.look_diff import look_diff
from experimentos.model import Options
from experimentos.model_json import analysis_from_dict
from tests.conftest import EXAMPLES

LAUNCH = (EXAMPLES / "launch.csv").read_bytes()
OBF_FIVE = (4.877, 3.357, 2.680, 2.290, 2.031)  # published, see the module docstring
POCOCK_FIVE = (2.438, 2.427, 2.410, 2.397, 2.386)


def _primary(content: bytes) -> tuple[int, int, int, int]:
    """(control conversions, control users, treatment conversions, treatment users)."""
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(content.decode()))}
    c, t = rows["control"], rows["treatment"]
    return int(c["conversions"]), int(c["users"]), int(t["conversions"]), int(t["users"])


def _z(content: bytes) -> float:
    """statsmodels' unpooled Wald z of the primary (treatment is its sample 1)."""
    x_c, n_c, x_t, n_t = _primary(content)
    return sm_proportion.test_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff"
    ).statistic


def _obf_spent(t: float, alpha: float = 0.05) -> float:
    """Lan & DeMets O'Brien–Fleming-type spending, both sides: 2·2Φ̄(z_{1−α/4}/√t)."""
    return 4 * stats.norm.sf(stats.norm.isf(alpha / 4) / math.sqrt(t))


def _second_boundary(t1: float, t2: float) -> float:
    """The boundary c at the second of two looks: P(|Z₁| < b₁, |Z₂| ≥ c) = α(t₂) − α(t₁), with
    corr(Z₁, Z₂) = √(t₁/t₂) (Jennison & Turnbull 2000, §3.1), by scipy's bivariate normal."""
    b1 = stats.norm.isf(_obf_spent(t1) / 2)
    target = _obf_spent(t2) - _obf_spent(t1)
    rho = math.sqrt(t1 / t2)
    pair = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]], abseps=1e-10)

    def inside(a: float, b: float) -> float:  # P(|Z₁| < a, |Z₂| < b) from the joint cdf F
        return pair.cdf([a, b]) - pair.cdf([-a, b]) - pair.cdf([a, -b]) + pair.cdf([-a, -b])

    first_inside = 1 - 2 * stats.norm.sf(b1)
    return optimize.brentq(lambda c: first_inside - inside(b1, c) - target, 1.0, 5.0)


def test_the_launch_example_z_is_between_the_look_2_and_look_5_boundaries() -> None:
    assert OBF_FIVE[-1] < _z(LAUNCH) < OBF_FIVE[1]  # z ≈ 3.26
    assert POCOCK_FIVE[0] < _z(LAUNCH)


def test_early_look_not_crossed_is_not_yet_conclusive() -> None:
    """z ≈ 3.26 (p = 0.0011) at look 2 of 5 is below the O'Brien–Fleming-type 3.357."""
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(look=2, of_looks=5))
    assert analysis.sequential is not None
    assert analysis.sequential.boundary_z == pytest.approx(OBF_FIVE[1], abs=0.003)
    assert analysis.primary[0].comparison.statistic == pytest.approx(_z(LAUNCH), rel=1e-9)
    assert not analysis.sequential.crossed
    assert (analysis.verdict.kind, analysis.verdict.rule) == ("hold", 7)
    assert "not yet conclusive" in analysis.verdict.reason
    assert any(w.startswith("Peeking") for w in analysis.warnings)


def test_final_look_crossed_launches() -> None:
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(look=5, of_looks=5))
    assert analysis.sequential is not None and analysis.sequential.crossed
    assert analysis.sequential.boundary_z == pytest.approx(OBF_FIVE[4], abs=0.003)
    assert analysis.verdict.kind == "launch"


def test_pocock_spending_is_selectable() -> None:
    options = Options(look=1, of_looks=5, spending="pocock")
    analysis = analyze(LAUNCH, file_name="launch.csv", options=options)
    assert analysis.sequential is not None
    assert analysis.sequential.boundary_z == pytest.approx(POCOCK_FIVE[0], abs=0.003)
    assert analysis.sequential.crossed  # z ≈ 3.26


def test_information_fractions_from_target_sample_size() -> None:
    options = Options(look=2, of_looks=3, look_fractions=(0.25, 0.95))
    analysis = analyze(LAUNCH, file_name="launch.csv", options=options)
    assert analysis.sequential is not None
    assert analysis.sequential.information_fraction == 0.95
    assert analysis.sequential.boundary_z == pytest.approx(_second_boundary(0.25, 0.95), abs=1e-6)
    assert analysis.sequential.crossed


def test_repeated_unplanned_looks_warn_about_peeking() -> None:
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(prior_looks=2))
    assert any("look 3" in w and "Peeking" in w for w in analysis.warnings)
    first = analyze(LAUNCH, file_name="launch.csv")
    assert first.warnings == ()


def test_look_diff_names_lift_ci_and_verdict_changes() -> None:
    earlier_csv = (EXAMPLES / "not_significant.csv").read_bytes()
    earlier = analyze(earlier_csv, file_name="not_significant.csv")
    later = analyze(LAUNCH, file_name="launch.csv")
    previous = analysis_from_dict(
        json.loads(json.dumps(earlier.to_dict()))
    )  # as the store keeps it
    line = look_diff(previous, later, previous_look=1)
    lifts = []
    for content in (earlier_csv, LAUNCH):  # the lifts from the files' counts: +0.20 and +1.00 pp
        x_c, n_c, x_t, n_t = _primary(content)
        lifts.append(f"{(x_t / n_t - x_c / n_c) * 100:+.2f} pp")
    assert line.startswith(f"Since look 1: lift {lifts[0]} → {lifts[1]}")
    assert "CI width" in line and "verdict Hold → Launch" in line
