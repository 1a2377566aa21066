"""The risk-aware decision rule (Schultzberg, Ankargren & Frånberg 2024) against tests computed
independently with statsmodels, and its options on the command line and in Slack lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import ttest_ind_from_stats
from statsmodels.stats.proportion import test_proportions_2indep as proportions_2indep

from experimentos.analysis.assemble import analyze
from experimentos.errors import OptionError
from experimentos.model import Analysis
from experimentos.options import build_options, parse_message_options

ALPHA = 0.05


def csv(rows: list[tuple[str, int, int, int, int]]) -> bytes:
    """variant, users, conversions, signups, guardrail_error."""
    lines = ["variant,users,conversions,signups,guardrail_error"]
    lines += [",".join(map(str, row)) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def run(data: bytes, **options: str) -> Analysis:
    return analyze(data, file_name="exp.csv", options=build_options(**options))


def two_sided_p(c: tuple[int, int], t: tuple[int, int]) -> float:
    """Unpooled Wald z-test of two proportions, (conversions, users) per arm, by statsmodels."""
    return float(proportions_2indep(t[0], t[1], c[0], c[1], method="wald").pvalue)


def worse_p(c: tuple[int, int], t: tuple[int, int], *, harm: str) -> float:
    """One-sided p that the treatment moved the metric the harmful way ('smaller'/'larger')."""
    return float(proportions_2indep(t[0], t[1], c[0], c[1], method="wald", alternative=harm).pvalue)


def non_inferior_p(c: tuple[int, int], t: tuple[int, int], margin: float) -> float:
    """One-sided p of H0: p_t / p_c ≥ 1 + margin (a rise is the harm): statsmodels' log-ratio
    Wald test, a different construction from the delta method the product uses."""
    return float(
        proportions_2indep(
            t[0],
            t[1],
            c[0],
            c[1],
            compare="ratio",
            value=1 + margin,
            method="log",
            alternative="smaller",
        ).pvalue
    )


N = 20_000
CONTROL = ("control", N, 2000, 1000, 200)


def test_a_significant_success_with_non_inferior_guardrails_launches():
    treatment = ("treatment", N, 2200, 1010, 196)
    analysis = run(
        csv([CONTROL, treatment]), success="conversions,signups", margins="guardrail_error=20%"
    )
    # independent: conversions significant at α/2, signups not; guardrail within its margin
    assert two_sided_p((2000, N), (2200, N)) < ALPHA / 2
    assert two_sided_p((1000, N), (1010, N)) > ALPHA / 2
    assert non_inferior_p((200, N), (196, N), 0.20) < ALPHA
    assert analysis.verdict.kind == "launch"
    assert analysis.verdict.decision_rule == "risk-aware"
    assert analysis.verdict.reason.startswith("risk-aware rule (Schultzberg et al. 2024):")
    # success results: raw p equal statsmodels', adjusted ×2 (Bonferroni over two metrics)
    by_name = {m.name: m for m in analysis.success}
    for name, counts in (("conversions", (2200, N)), ("signups", (1010, N))):
        control = (2000, N) if name == "conversions" else (1000, N)
        expected = two_sided_p(control, counts)
        assert by_name[name].comparison.p_value == pytest.approx(expected, rel=1e-9)
        assert by_name[name].p_value_adjusted == pytest.approx(min(1, 2 * expected), rel=1e-9)
        assert by_name[name].role == "success"
    assert {m.name for m in analysis.secondary}.isdisjoint(by_name)


def test_non_inferiority_not_shown_holds():
    treatment = ("treatment", N, 2200, 1010, 212)
    analysis = run(
        csv([CONTROL, treatment]), success="conversions,signups", margins="guardrail_error=5%"
    )
    assert two_sided_p((2000, N), (2200, N)) < ALPHA / 2
    assert non_inferior_p((200, N), (212, N), 0.05) > ALPHA  # not shown within 5%
    assert worse_p((200, N), (212, N), harm="larger") > ALPHA  # nor significantly worse
    assert analysis.verdict.kind == "hold"
    assert "non-inferiority is not shown for guardrail_error" in analysis.verdict.reason
    # the default rule (guardrail within 0.1 pp, not significantly worse) launches it
    assert run(csv([CONTROL, treatment])).verdict.kind == "launch"


def test_a_guardrail_without_a_margin_cannot_be_shown_safe():
    treatment = ("treatment", N, 2200, 1010, 196)
    analysis = run(csv([CONTROL, treatment]), rule="risk-aware")
    assert analysis.verdict.kind == "hold"
    assert "guardrail_error (no testable non-inferiority margin)" in analysis.verdict.reason


def test_a_significantly_worse_success_metric_rolls_back():
    treatment = ("treatment", N, 2200, 910, 196)
    analysis = run(
        csv([CONTROL, treatment]), success="conversions,signups", margins="guardrail_error=20%"
    )
    assert two_sided_p((2000, N), (2200, N)) < ALPHA / 2  # conversions improve significantly …
    assert worse_p((1000, N), (910, N), harm="smaller") < ALPHA  # … but signups fall
    assert analysis.verdict.kind == "rollback"
    assert "significantly worsens signups" in analysis.verdict.reason


def test_a_significantly_worse_guardrail_holds():
    treatment = ("treatment", N, 2200, 1010, 240)
    analysis = run(
        csv([CONTROL, treatment]), success="conversions,signups", margins="guardrail_error=50%"
    )
    assert non_inferior_p((200, N), (240, N), 0.50) < ALPHA  # within the wide margin …
    assert worse_p((200, N), (240, N), harm="larger") < ALPHA  # … yet significantly worse
    assert analysis.verdict.kind == "hold"
    assert "significantly worsens guardrail guardrail_error" in analysis.verdict.reason


def _conversions_near_p(target: float) -> int:
    """Treatment conversions (of N, control 2000) whose two-sided p is nearest ``target``."""
    return min(range(2000, 2300), key=lambda x: abs(two_sided_p((2000, N), (x, N)) - target))


def test_bonferroni_makes_p_003_not_significant_with_two_success_metrics():
    conversions = _conversions_near_p(0.03)
    p = two_sided_p((2000, N), (conversions, N))
    assert 0.025 < p < 0.035
    treatment = ("treatment", N, conversions, 1000, 196)
    alone = run(csv([CONTROL, treatment]), success="conversions", margins="guardrail_error=20%")
    pair = run(
        csv([CONTROL, treatment]), success="conversions,signups", margins="guardrail_error=20%"
    )
    assert alone.verdict.kind == "launch"  # p < α with one success metric
    assert pair.verdict.kind == "hold"  # p > α / 2 with two
    assert "no success metric improves significantly" in pair.verdict.reason
    assert "Bonferroni over 2 success comparisons" in pair.verdict.reason
    assert pair.success[0].p_value_adjusted == pytest.approx(2 * p, rel=1e-9)


def test_bonferroni_counts_treatment_arms_too():
    conversions = _conversions_near_p(0.03)
    rows = [CONTROL, ("b", N, conversions, 1000, 196), ("c", N, 2000, 1000, 200)]
    analysis = run(csv(rows), success="conversions", margins="guardrail_error=20%")
    assert len(analysis.success) == 2  # one success metric × two treatment arms
    assert analysis.verdict.kind == "hold"
    assert "Bonferroni over 2 success comparisons" in analysis.verdict.reason


def test_a_mean_success_metric_uses_welch_with_the_correction():
    data = (
        b"variant,users,conversions,guardrail_error,revenue_sum,revenue_sum_sq\n"
        b"control,20000,2000,200,100000,2000000\n"
        b"treatment,20000,2000,196,102000,2200000\n"
    )
    analysis = run(data, success="conversions,revenue", margins="guardrail_error=20%")
    revenue = next(m for m in analysis.success if m.name == "revenue")

    def moments(total: float, total_sq: float, n: int = 20000) -> tuple[float, float]:
        mean = total / n
        return mean, ((total_sq - n * mean * mean) / (n - 1)) ** 0.5

    (mc, sc), (mt, st) = moments(100000, 2000000), moments(102000, 2200000)
    _, expected = ttest_ind_from_stats(mt, st, 20000, mc, sc, 20000, equal_var=False)
    assert revenue.comparison.p_value == pytest.approx(expected, rel=1e-6)
    assert revenue.p_value_adjusted == pytest.approx(min(1, 2 * expected), rel=1e-6)
    assert analysis.verdict.kind == ("launch" if 2 * expected < ALPHA else "hold")


def test_default_rule_is_unchanged_without_success_metrics():
    treatment = ("treatment", N, 2200, 1010, 196)
    analysis = run(csv([CONTROL, treatment]))
    assert analysis.verdict.decision_rule == "default"
    assert analysis.success == ()
    assert not analysis.verdict.reason.startswith("risk-aware")


def test_slack_lines_choose_the_rule():
    options = parse_message_options(
        "Checkout test\nsuccess: Conversions, signups\nrule: risk-aware"
    )
    assert options.success == ("conversions", "signups")
    assert options.rule == "risk-aware"
    assert parse_message_options("success: conversions").rule == "risk-aware"
    assert parse_message_options("name: x").rule == "default"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "bayesian"}, "rule must be default or risk-aware"),
        ({"rule": "default", "success": "conversions"}, "success metrics are combined by"),
        ({"success": "a, a"}, "more than once"),
        ({"success": "conversions", "method": "always-valid"}, "fixed horizon"),
    ],
)
def test_bad_rule_options_say_what_is_wrong(kwargs, message):
    with pytest.raises(OptionError, match=message):
        build_options(**kwargs)


def test_a_success_metric_that_is_a_guardrail_is_refused():
    with pytest.raises(OptionError, match="both a success metric and a guardrail"):
        run(csv([CONTROL, ("treatment", N, 2200, 1010, 196)]), success="guardrail_error")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_runs_the_rule_and_names_it(tmp_path: Path):
    path = tmp_path / "exp.csv"
    path.write_bytes(csv([CONTROL, ("treatment", N, 2200, 1010, 196)]))
    done = cli(
        "analyze", str(path), "--success", "conversions,signups", "--margins", "guardrail_error=20%"
    )
    assert done.returncode == 0, done.stderr
    assert "LAUNCH" in done.stdout
    assert "risk-aware rule (Schultzberg et al. 2024)" in done.stdout
    bad = cli("analyze", str(path), "--success", "nope")
    assert bad.returncode == 2
    assert "success metric 'nope' is not a metric of this file" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- power


def spotify_success_sample_size(
    *,
    successes: int,
    guardrails: int,
    variants: int,
    avg: float,
    var: float,
    binary: bool,
    mde_rel: float,
    power: float = 0.8,
) -> tuple[float, float, float]:
    """Total users spotify-confidence's sample size calculator needs for a success metric under
    its ``spot-1-bonferroni`` correction (the risk-aware rule), with the adjusted α and power."""
    pd = pytest.importorskip("pandas")
    calculator_module = pytest.importorskip(
        "spotify_confidence.analysis.frequentist.sample_size_calculator"
    )
    rows = [
        {
            "metric": f"s{i}",
            "avg": avg,
            "var": var,
            "binary": binary,
            "mde": mde_rel,
            "nim": None,
            "pref": None,
        }
        for i in range(successes)
    ] + [
        {
            "metric": f"g{j}",
            "avg": 0.2,
            "var": 0.16,
            "binary": True,
            "mde": None,
            "nim": 0.05,
            "pref": "increase",
        }
        for j in range(guardrails)
    ]
    calculator = calculator_module.SampleSizeCalculator(
        pd.DataFrame(rows),
        point_estimate_column="avg",
        var_column="var",
        is_binary_column="binary",
        metric_column="metric",
        correction_method="spot-1-bonferroni",
        power=power,
        interval_size=0.95,
    )
    out = calculator.sample_size(
        treatment_weights=[1] * variants,
        mde_column="mde",
        nim_column="nim",
        preferred_direction_column="pref",
    )
    row = out[out["metric"] == "s0"].iloc[0]
    return (
        float(row["required_sample_size_for_metric"]),
        float(row["adjusted_alpha_power_sample_size"]),
        float(row["adjusted_power"]),
    )


@pytest.mark.parametrize(
    ("successes", "guardrails", "variants"),
    [(1, 0, 2), (2, 3, 2), (3, 1, 3), (1, 4, 2), (4, 2, 4)],
)
def test_sizing_for_the_rule_equals_spotify_confidence_on_means(successes, guardrails, variants):
    from experimentos.stats.power import plan_sample_size

    total, alpha, power = spotify_success_sample_size(
        successes=successes,
        guardrails=guardrails,
        variants=variants,
        avg=10.0,
        var=16.0,
        binary=False,
        mde_rel=0.02,
    )
    plan = plan_sample_size(
        baseline=10.0,
        mde=0.02,
        relative=True,
        sd=4.0,
        variants=variants,
        success_metrics=successes,
        guardrail_metrics=guardrails,
    )
    assert plan.alpha_per_comparison == pytest.approx(alpha, rel=1e-12)
    assert plan.power_per_test == pytest.approx(power, rel=1e-12)
    assert plan.total_users == total


@pytest.mark.parametrize(("successes", "guardrails"), [(2, 3), (3, 1)])
def test_sizing_for_the_rule_is_near_spotify_confidence_on_proportions(successes, guardrails):
    """spotify-confidence uses the unpooled variance under H0 too; the product pools it
    (Fleiss): the same design, within a fraction of a percent."""
    from experimentos.stats.power import plan_sample_size

    total, _, _ = spotify_success_sample_size(
        successes=successes,
        guardrails=guardrails,
        variants=2,
        avg=0.1,
        var=0.09,
        binary=True,
        mde_rel=0.05,
    )
    plan = plan_sample_size(
        baseline=0.1,
        mde=0.05,
        relative=True,
        success_metrics=successes,
        guardrail_metrics=guardrails,
    )
    assert plan.total_users == pytest.approx(total, rel=5e-3)


def test_sizing_for_the_rule_needs_more_users_than_one_primary():
    from experimentos.stats.power import plan_sample_size

    plain = plan_sample_size(baseline=0.1, mde=0.01)
    rule = plan_sample_size(baseline=0.1, mde=0.01, success_metrics=2, guardrail_metrics=3)
    assert rule.total_users > plain.total_users
    assert plan_sample_size(baseline=0.1, mde=0.01, success_metrics=1, guardrail_metrics=0) == plain
    with pytest.raises(ValueError, match="success metrics must be a whole number"):
        plan_sample_size(baseline=0.1, mde=0.01, success_metrics=0)


def test_power_cli_sizes_for_the_rule():
    import json

    done = cli(
        "power",
        "--baseline",
        "0.1",
        "--mde",
        "0.01",
        "--success-metrics",
        "2",
        "--guardrail-metrics",
        "3",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["alpha_per_comparison"] == pytest.approx(0.025)
    assert plan["power_per_test"] == pytest.approx(0.95)
    text = cli("power", "--baseline", "0.1", "--mde", "0.01", "--success-metrics", "2")
    assert "Sized for the risk-aware rule" in text.stdout
    bad = cli("power", "--baseline", "0.1", "--mde", "0.01", "--guardrail-metrics", "-1")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "experimentos: guardrail metrics must be a whole number of at least 0 (got -1)"
    )


def test_slack_power_command_sizes_for_the_rule():
    from experimentos.power_args import PowerArgsError, parse_power_args
    from experimentos.stats.power import plan_sample_size

    request = parse_power_args("baseline=10% mde=1pp success=2 guardrails=3")
    assert (request.success_metrics, request.guardrail_metrics) == (2, 3)
    plan = plan_sample_size(**request.as_kwargs())
    expected = plan_sample_size(baseline=0.1, mde=0.01, success_metrics=2, guardrail_metrics=3)
    assert plan.total_users == expected.total_users
    assert plan.power_per_test == pytest.approx(0.95)
    with pytest.raises(PowerArgsError, match=r"guardrails=1\.5 must be a whole number"):
        parse_power_args("baseline=10% mde=1pp guardrails=1.5")


def test_power_chart_curve_uses_the_rule_design():
    pytest.importorskip("matplotlib")
    from experimentos.report.charts.power_curve import _curve
    from experimentos.stats.power import plan_sample_size

    plan = plan_sample_size(baseline=0.1, mde=0.01, success_metrics=2, guardrail_metrics=3)
    mdes, users = _curve(plan)
    at_plan = users[min(range(len(mdes)), key=lambda i: abs(mdes[i] - 0.01))]
    assert at_plan == max(plan.users_per_variant)


def test_the_memo_says_which_rule_decided():
    from experimentos.report.memo import render_markdown

    data = csv([CONTROL, ("treatment", N, 2200, 1010, 196)])
    memo = render_markdown(run(data, success="conversions,signups", margins="guardrail_error=20%"))
    assert "### Decision rule: risk-aware (Schultzberg, Ankargren & Frånberg 2024)" in memo
    assert "α = 0.025 (Bonferroni over 2 success comparisons" in memo
    assert "| signups | treatment vs control |" in memo
    assert "Decision rule: risk-aware" not in render_markdown(run(data))


def test_the_text_report_lists_each_success_metric_with_its_adjusted_p():
    from experimentos.formatting import pvalue
    from experimentos.report.text import render

    analysis = run(csv([CONTROL, ("treatment", N, 2200, 1010, 196)]), success="conversions,signups")

    report = render(analysis)
    lines = [line for line in report.splitlines() if line.startswith("Success  ")]
    assert [line.split()[1] for line in lines] == [m.name for m in analysis.success]
    for line, metric in zip(lines, analysis.success, strict=True):
        assert line.endswith(pvalue(metric.p_value_adjusted))
