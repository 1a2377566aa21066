"""Percentile metrics of user-level files: the median and p90 per arm (DuckDB's quantile_cont),
and the Woodruff interval for their difference, checked against numpy, a bootstrap and gbstats."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import QuantileStatistic
from scipy.stats import norm

from experimentos import ingest
from experimentos.analysis.assemble import analyze
from experimentos.model import Options, QuantileStats, Thresholds
from experimentos.model_json import analysis_from_dict
from experimentos.report.memo import render_markdown
from experimentos.report.text import render
from experimentos.stats.quantiles import quantile_comparison
from tests.conftest import EXAMPLES

ARMS = ("control", "treatment")
LEVELS = (0.5, 0.9)
Z = float(norm.ppf(0.975))


def _samples(seed: int = 7, n: int = 3000) -> dict[str, dict[str, np.ndarray]]:
    """Two continuous metrics per arm: a skewed revenue and a latency the treatment shortens."""
    rng = np.random.default_rng(seed)
    return {
        "control": {
            "revenue": rng.lognormal(3.0, 1.0, n),
            "latency_ms": rng.gamma(2.0, 100.0, n),
        },
        "treatment": {
            "revenue": rng.lognormal(3.05, 1.0, n),
            "latency_ms": rng.gamma(2.0, 92.0, n),
        },
    }


def _write(path: Path, samples: dict[str, dict[str, np.ndarray]], *, text_ids: bool) -> bytes:
    """One row per user, arms interleaved; values written with repr (read back exactly)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "variant", "converted", "revenue", "latency_ms"])
        n = len(samples["control"]["revenue"])
        for k in range(n):
            for j, arm in enumerate(ARMS):
                user = 2 * k + j
                writer.writerow(
                    [
                        f"u{user}" if text_ids else user,
                        arm,
                        (k * 7 + j) % 10 == 0,
                        repr(float(samples[arm]["revenue"][k])),
                        repr(float(samples[arm]["latency_ms"][k])),
                    ]
                )
    return path.read_bytes()


def _parse(data: bytes, name: str = "users.csv"):
    return ingest.parse(data, file_name=name, options=Options(), thresholds=Thresholds())


@pytest.mark.parametrize("text_ids", [False, True], ids=["integer-ids", "text-ids"])
def test_quantiles_and_their_order_statistics_equal_numpy(tmp_path: Path, text_ids: bool) -> None:
    samples = _samples()
    data = _parse(_write(tmp_path / "users.csv", samples, text_ids=text_ids))
    found = {(s.arm, s.metric, s.q): s for s in data.quantiles}
    assert set(found) == {
        (a, m, q) for a in ARMS for m in ("revenue", "latency_ms") for q in LEVELS
    }
    for (arm, metric, q), stats in found.items():
        values = samples[arm][metric]
        n = len(values)
        assert stats.n == n
        assert stats.estimate == pytest.approx(np.quantile(values, q, method="linear"), rel=1e-12)
        half = Z * math.sqrt(q * (1 - q) / n)  # Woodruff's rank fractions, from scipy's z
        lower, upper = np.quantile(values, [q - half, q + half], method="linear")
        assert stats.lower == pytest.approx(lower, rel=1e-12)
        assert stats.upper == pytest.approx(upper, rel=1e-12)


def test_repeated_rows_of_a_user_give_the_quantile_of_the_users_sums(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows, per_user = [], {arm: {} for arm in ARMS}
    for user in range(600):
        arm = ARMS[user % 2]
        for _ in range(1 + user % 3):  # a user on 1 to 3 rows of the same arm
            value = float(rng.gamma(2.0, 50.0))
            rows.append((user, arm, 0, repr(value)))
            per_user[arm][user] = per_user[arm].get(user, 0.0) + value
    path = tmp_path / "repeated.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "variant", "converted", "spend"])
        writer.writerows(rows)
    data = _parse(path.read_bytes(), "repeated.csv")
    for s in data.quantiles:
        sums = np.array(list(per_user[s.arm].values()))
        assert s.n == len(sums)
        assert s.estimate == pytest.approx(np.quantile(sums, s.q), rel=1e-12)


def _bootstrap_ci(control: np.ndarray, treatment: np.ndarray, q: float) -> tuple[float, float]:
    rng = np.random.default_rng(20240917)
    resamples = 2000
    c = control[rng.integers(0, len(control), (resamples, len(control)))]
    t = treatment[rng.integers(0, len(treatment), (resamples, len(treatment)))]
    diffs = np.quantile(t, q, axis=1) - np.quantile(c, q, axis=1)
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(low), float(high)


def test_difference_ci_agrees_with_a_bootstrap(tmp_path: Path) -> None:
    samples = _samples()
    path = tmp_path / "users.csv"
    _write(path, samples, text_ids=False)
    analysis = analyze(path.read_bytes(), file_name="users.csv")
    by_name = {m.name: m for m in analysis.percentiles}
    assert set(by_name) == {
        f"{m} p{int(q * 100)}" for m in ("revenue", "latency_ms") for q in LEVELS
    }
    for metric in ("revenue", "latency_ms"):
        c, t = samples["control"][metric], samples["treatment"][metric]
        for q in LEVELS:
            result = by_name[f"{metric} p{int(q * 100)}"]
            assert result.kind == "percentile" and result.role == "secondary"
            low, high = _bootstrap_ci(c, t, q)
            ours = result.comparison.abs_ci
            width, boot_width = ours[1] - ours[0], high - low
            assert abs(width / boot_width - 1) < 0.15, (metric, q, width, boot_width)
            centre = np.quantile(t, q) - np.quantile(c, q)
            assert result.comparison.abs_lift == pytest.approx(centre, rel=1e-9)
            assert ours[0] < centre < ours[1]
    latency = by_name["latency_ms p50"]  # an 8% shorter latency, 3,000 users an arm
    assert latency.significant and latency.comparison.abs_ci[1] < 0


def test_difference_ci_equals_gbstats_quantile_test() -> None:
    """gbstats' QuantileStatistic with the same order statistics: the same interval, up to its
    (n − 1)/n variance factor and t in place of z (well below 0.1% at these n)."""
    rng = np.random.default_rng(11)
    arms = {"control": rng.gamma(2.0, 100.0, 4000), "treatment": rng.gamma(2.0, 95.0, 5000)}
    for q in LEVELS:
        ours, theirs = {}, {}
        for arm, values in arms.items():
            n = len(values)
            half = Z * math.sqrt(q * (1 - q) / n)
            est, low, high = np.quantile(values, [q, q - half, q + half])
            ours[arm] = QuantileStats("x", arm, q, n, est, low, high, 0.05)
            theirs[arm] = QuantileStatistic(
                n=n, n_star=n, nu=q, quantile_hat=est, quantile_lower=low, quantile_upper=high
            )
        comparison, note = quantile_comparison(ours["control"], ours["treatment"])
        result = TwoSidedTTest(
            theirs["control"], theirs["treatment"], FrequentistConfig(difference_type="absolute")
        ).compute_result()
        assert note is None
        assert comparison.abs_lift == pytest.approx(result.expected, rel=1e-12)
        assert comparison.abs_ci[0] == pytest.approx(result.ci[0], rel=1e-3)
        assert comparison.abs_ci[1] == pytest.approx(result.ci[1], rel=1e-3)
        assert comparison.p_value == pytest.approx(result.p_value, rel=1e-2, abs=1e-4)


def test_too_few_users_for_the_p90_interval_is_reported_without_a_test(tmp_path: Path) -> None:
    """20 users an arm: the p90's upper rank fraction 0.9 + 1.96·√(0.09/20) is above 1."""
    rng = np.random.default_rng(5)
    samples = {
        arm: {"revenue": rng.gamma(2.0, 10.0, 20), "latency_ms": rng.gamma(2.0, 10.0, 20)}
        for arm in ARMS
    }
    path = tmp_path / "small.csv"
    _write(path, samples, text_ids=False)
    analysis = analyze(path.read_bytes(), file_name="small.csv")
    p90 = next(m for m in analysis.percentiles if m.name == "revenue p90")
    assert math.isnan(p90.comparison.p_value) and not p90.significant
    assert p90.treatment.value == pytest.approx(np.quantile(samples["treatment"]["revenue"], 0.9))
    assert any("too few users" in n for n in p90.notes)
    p50 = next(m for m in analysis.percentiles if m.name == "revenue p50")
    assert math.isfinite(p50.comparison.p_value)  # 0.5 ± 1.96·√(0.25/20) stays inside [0, 1]


def test_percentiles_are_shown_reported_only_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    _write(path, _samples(n=800), text_ids=False)
    analysis = analyze(path.read_bytes(), file_name="users.csv")
    assert analysis.percentiles
    text = render(analysis)
    memo = render_markdown(analysis)
    for m in analysis.percentiles:
        assert f"{m.name} (treatment vs control)" in text
        assert m.name.replace("_", "\\_") in memo  # Markdown escapes the underscore
    assert "Percentiles (reported, not part of the verdict)" in memo
    assert "Woodruff" in memo
    assert all("p50" not in r and "p90" not in r for r in analysis.verdict.reasons)
    assert analysis_from_dict(analysis.to_dict()) == analysis


def test_aggregated_files_have_no_percentiles() -> None:
    analysis = analyze((EXAMPLES / "continuous.csv").read_bytes(), file_name="continuous.csv")
    assert analysis.percentiles == ()
    assert "Percentiles" not in render_markdown(analysis)
