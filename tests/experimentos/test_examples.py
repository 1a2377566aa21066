"""Each bundled example gives the verdict the README documents for it."""

from __future__ import annotations

import pytest

from experimentos.analysis.assemble import analyze
from experimentos.model import Options
from tests.conftest import EXAMPLES

DOCUMENTED = {
    "launch.csv": ("launch", 6),
    "srm_hold.csv": ("hold", 2),
    "guardrail_worsened.csv": ("hold", 5),
    "guardrail_severe.csv": ("rollback", 4),
    "negative_primary.csv": ("rollback", 3),
    "not_significant.csv": ("hold", 7),
    "blocked.csv": ("hold", 1),
    "three_arms.csv": ("launch", 6),
    "continuous.csv": ("launch", 6),
    "ratio.csv": ("launch", 6),
}


def test_every_example_is_documented() -> None:
    assert {p.name for p in EXAMPLES.glob("*.csv")} == set(DOCUMENTED)


@pytest.mark.parametrize(("file_name", "expected"), sorted(DOCUMENTED.items()))
def test_example_verdict(file_name: str, expected: tuple[str, int]) -> None:
    analysis = analyze((EXAMPLES / file_name).read_bytes(), file_name=file_name)
    assert (analysis.verdict.kind, analysis.verdict.rule) == expected


def test_three_arms_launches_the_best_variant() -> None:
    analysis = analyze((EXAMPLES / "three_arms.csv").read_bytes(), file_name="three_arms.csv")
    assert analysis.verdict.arm == "variant_a"
    assert analysis.overall is not None and analysis.overall.p_value < 0.05
    assert [m.arm for m in analysis.primary] == ["variant_a", "variant_b"]
    assert all(m.p_value_adjusted >= m.comparison.p_value for m in analysis.primary)


def test_blocked_example_names_line_and_column() -> None:
    analysis = analyze((EXAMPLES / "blocked.csv").read_bytes(), file_name="blocked.csv")
    located = {(f.row, f.column) for f in analysis.health.findings if f.severity == "blocked"}
    assert (3, "conversions") in located  # 'abc'
    assert (4, "variant") in located  # the duplicate 'treatment' row
    assert (4, "guardrail_error") in located  # -5


def test_continuous_example_reports_welch() -> None:
    analysis = analyze((EXAMPLES / "continuous.csv").read_bytes(), file_name="continuous.csv")
    (revenue,) = [m for m in analysis.secondary if m.name == "revenue"]
    assert revenue.kind == "mean"
    assert revenue.comparison.method == "welch t-test"
    assert revenue.control.value == pytest.approx(5.0)
    assert revenue.treatment.value == pytest.approx(5.4)


def test_ratio_example_reports_the_ratio_but_never_decides_on_it() -> None:
    """More orders, smaller orders: revenue per order falls significantly while conversion
    rises. The ratio is a secondary metric, so the verdict is still Launch (rule 6)."""
    analysis = analyze((EXAMPLES / "ratio.csv").read_bytes(), file_name="ratio.csv")
    (ratio,) = [m for m in analysis.secondary if m.name == "revenue_per_order"]
    assert ratio.kind == "ratio" and ratio.role == "secondary"
    assert ratio.comparison.method == "delta-method z-test"
    assert ratio.control.value == pytest.approx(125522.66 / 3130)  # Σ revenue / Σ orders
    assert ratio.treatment.value == pytest.approx(133905.60 / 3577)
    assert ratio.significant and ratio.comparison.abs_lift < 0
    assert analysis.verdict.kind == "launch"
    names = {m.name for m in analysis.secondary}
    assert not names & {"revenue_per_order_num", "revenue_per_order_den"}  # not read as means


def test_cookie_cats_real_export(cookie_cats: bytes) -> None:
    """The real Cookie Cats export: 7-day retention drops with the gate at level 40.

    Public analyses of this data set report 19.02% vs 18.20% 7-day retention and an SRM
    chi-square p of about 0.0086 (44,700 vs 45,489 players): not an SRM at p < 0.001.
    """
    options = Options(control="gate_30", primary="retention_7")
    analysis = analyze(cookie_cats, file_name="cookie_cats.csv", options=options)
    assert analysis.experiment.input_format == "user_level"
    assert analysis.health.status == "healthy"
    assert analysis.health.srm is not None
    assert analysis.health.srm.p_value == pytest.approx(0.0086, abs=0.0002)
    (primary,) = analysis.primary
    assert primary.control.value == pytest.approx(8502 / 44700)
    assert primary.treatment.value == pytest.approx(8279 / 45489)
    assert analysis.verdict.kind == "rollback"
    assert any(f.code == "extreme_outlier" for f in analysis.health.findings)
    assert any(m.name.startswith("sum_gamerounds (capped") for m in analysis.secondary)


def test_cookie_cats_without_options_asks_for_them(cookie_cats: bytes) -> None:
    analysis = analyze(cookie_cats, file_name="cookie_cats.csv")
    assert analysis.verdict.kind == "hold" and analysis.verdict.rule == 1
    messages = " ".join(f.message for f in analysis.health.findings)
    assert "retention_7" in messages and "primary" in messages
