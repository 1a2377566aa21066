"""The decision rules of SPEC §2.9, each branch through ``analyze()`` on CSV bytes built here.

Counts are chosen so rates are exact decimals: with 10,000 users per arm one user is 0.01 pp, so a
guardrail Δ of exactly 0.10 pp or 0.30 pp is 10 or 30 users, with a p-value far above 0.05.
SRM boundaries are found by searching counts with scipy's chi-square test, not the project's.
"""

from __future__ import annotations

import math
import re

import pytest
from scipy import stats
from statsmodels.stats.proportion import test_proportions_2indep as sm_two_proportions

from experimentos.analysis.assemble import analyze
from experimentos.errors import UnreadableFileError
from experimentos.model import Analysis, GuardrailSpec, Options, Thresholds
from experimentos.report.memo import render_html, render_markdown
from experimentos.report.text import render as render_text

THRESHOLDS = Thresholds()  # the SPEC §2.12 defaults, whatever the environment says
HEADER = "variant,users,conversions"
# Primary: 10.00% vs 12.00% on 10,000 users per arm, z ≈ 4.5: clearly significant and positive.
WIN = ("control,10000,1000", "treatment,10000,1200")
LOSS = ("control,10000,1200", "treatment,10000,1000")
FLAT = ("control,10000,1000", "treatment,10000,1010")


def two_arms(primary: tuple[str, str]) -> list[str]:
    return [HEADER, *primary]


def run(lines: list[str] | tuple[str, ...], **options) -> Analysis:
    data = "\n".join(lines).encode()
    return analyze(data, file_name="test.csv", options=Options(**options), thresholds=THRESHOLDS)


def with_guardrail(primary: tuple[str, str], control: int, treatment: int, name="guardrail_errors"):
    """Two-arm file: the primary rows plus one guardrail count per arm."""
    return [
        f"{HEADER},{name}",
        f"{primary[0]},{control}",
        f"{primary[1]},{treatment}",
    ]


def verdict(analysis: Analysis) -> tuple[str, int]:
    return analysis.verdict.kind, analysis.verdict.rule


# --------------------------------------------------------------------------- rule 1: blocked data


@pytest.mark.parametrize(
    ("lines", "code", "row", "column"),
    [
        pytest.param(["variant,users", "control,100", "b,100"], "missing_column", 1,
                     "conversions", id="missing column"),
        pytest.param([HEADER, "a,1000,100", "b,1000,120"], "no_control", None, "variant",
                     id="no control"),
        pytest.param([HEADER, "control,1000,100", "b,1000,120", "B ,1000,130"],
                     "duplicate_variant", 4, "variant", id="duplicate variant"),
        pytest.param([HEADER, "control,1000,-5", "b,1000,120"], "not_a_count", 2, "conversions",
                     id="negative count"),
        pytest.param([HEADER, "control,1000,100", "b,NaN,120"], "not_a_number", 3, "users",
                     id="NaN count"),
        pytest.param([HEADER, "control,1000,100", "b,1000,lots"], "not_a_number", 3,
                     "conversions", id="non-numeric count"),
        pytest.param([HEADER, "control,1000,100", "b,1000,12.5"], "not_a_count", 3,
                     "conversions", id="fractional count"),
        pytest.param([HEADER, "control,1000,1001", "b,1000,120"], "conversions_exceed_users", 2,
                     "conversions", id="conversions > users"),
        pytest.param([HEADER, "control,0,0", "b,1000,120"], "zero_users", 2, "users",
                     id="users == 0"),
        pytest.param([HEADER, "control,1000,100"], "too_few_variants", None, "variant",
                     id="one variant"),
        pytest.param([HEADER, "control,1000,100", "b,1000,120", ",1000,90"], "empty_label", 4,
                     "variant", id="empty label"),
        pytest.param([f"{HEADER},guardrail_errors", "control,1000,100,5", "b,1000,120,-1"],
                     "not_a_count", 3, "guardrail_errors", id="negative guardrail"),
    ],
)  # fmt: skip
def test_blocked_data_holds_and_names_the_line_and_column(lines, code, row, column):
    analysis = run(lines)
    assert analysis.health.status == "blocked"
    assert verdict(analysis) == ("hold", 1)
    assert analysis.primary == ()  # no numbers are offered on blocked data
    finding = next(f for f in analysis.health.findings if f.code == code)
    assert finding.severity == "blocked"
    assert (finding.row, finding.column) == (row, column)
    if row is not None and row > 1:
        assert f"Line {row}" in finding.message
    assert finding.message in analysis.verdict.reasons
    assert any(finding.message in action for action in analysis.verdict.next_actions)


def test_an_html_page_is_unreadable_not_a_verdict():
    with pytest.raises(UnreadableFileError, match="HTML"):
        analyze(b"<!DOCTYPE html><html>login</html>", file_name="x.csv", thresholds=THRESHOLDS)


def test_blocked_data_holds_even_when_the_numbers_would_launch():
    analysis = run([f"{HEADER},guardrail_errors", "control,10000,1000,5", "treatment,10000,1200,x"])
    assert verdict(analysis) == ("hold", 1)


# --------------------------------------------------------------------------- rule 2: SRM


def _srm_p(control: int, treatment: int) -> float:
    return float(stats.chisquare([control, treatment]).pvalue)


def _first_imbalance_below(threshold: float, control: int = 50_000) -> int:
    """The smallest treatment size (≥ control) whose equal-split chi-square p is < threshold."""
    low, high = control, 2 * control  # p(low) = 1, p(high) ≈ 0
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _srm_p(control, middle) < threshold else (middle, high)
    return high


@pytest.mark.parametrize(
    ("threshold", "status", "code"),
    [(0.001, "warning", "srm_warning"), (0.00001, "blocked", "srm_blocked")],
)
def test_srm_boundaries(threshold, status, code):
    """Control 50,000 users. Treatment 51,045 gives p = 0.001011 (healthy), 51,046 gives
    p = 0.0009998 (Warning); 51,406 gives 1.009e-5 (Warning), 51,407 gives 9.946e-6 (Blocked)."""
    control = 50_000
    first = _first_imbalance_below(threshold, control)
    assert _srm_p(control, first) < threshold <= _srm_p(control, first - 1)

    def lines(treatment_users: int) -> list[str]:
        # 10% vs 12%: significant, so without the SRM the verdict would be Launch.
        return [
            HEADER,
            f"control,{control},5000",
            f"treatment,{treatment_users},{treatment_users * 12 // 100}",
        ]

    just_above = run(lines(first - 1))
    assert just_above.health.srm.p_value == pytest.approx(_srm_p(control, first - 1), rel=1e-9)
    if threshold == 0.001:
        assert just_above.health.status == "healthy"
        assert verdict(just_above) == ("launch", 6)
    else:  # between the two thresholds: a warning
        assert just_above.health.status == "warning"
        assert verdict(just_above) == ("hold", 2)

    just_below = run(lines(first))
    assert just_below.health.srm.p_value == pytest.approx(_srm_p(control, first), rel=1e-9)
    assert just_below.health.status == status
    assert any(f.code == code and f.severity == status for f in just_below.health.findings)
    # SPEC §2.9 rule 2 names "SRM Warning or Blocked": the SRM reason and actions, not rule 1's.
    assert verdict(just_below) == ("hold", 2)
    assert "Sample ratio mismatch" in just_below.verdict.reason


def test_srm_blocked_with_other_blocking_findings_is_rule_1():
    analysis = run([f"{HEADER},guardrail_errors", "control,50000,5000,1", "treatment,70000,8400,x"])
    assert verdict(analysis) == ("hold", 1)


def test_srm_uses_the_expected_split():
    lines = [HEADER, "control,60000,6000", "treatment,40000,4800"]
    assert verdict(run(lines)) == ("hold", 2)
    assert verdict(run(lines, split=(60.0, 40.0))) == ("launch", 6)


# --------------------------------------------------------------------------- rules 3 to 7


def test_rule_3_significant_loss_rolls_back():
    analysis = run(two_arms(LOSS))
    assert analysis.primary[0].significant and analysis.primary[0].comparison.abs_lift < 0
    assert verdict(analysis) == ("rollback", 3)


def test_rule_3_wins_over_guardrails_and_never_launches():
    # The guardrail improves by 1 pp (fewer errors): still a rollback of a losing treatment.
    analysis = run(with_guardrail(LOSS, 500, 400))
    assert verdict(analysis) == ("rollback", 3)
    severe = run(with_guardrail(LOSS, 500, 600))
    assert verdict(severe) == ("rollback", 3)


@pytest.mark.parametrize(
    ("treatment_errors", "status", "expected"),
    [
        (500, "ok", ("launch", 6)),  # Δ = 0
        (490, "ok", ("launch", 6)),  # an improvement of 0.10 pp
        (510, "ok", ("launch", 6)),  # Δ exactly 0.10 pp, p ≈ 0.75
        (511, "worsened", ("hold", 5)),  # 0.11 pp
        (530, "worsened", ("hold", 5)),  # exactly 0.30 pp: worsened, not severe
        (531, "severe", ("rollback", 4)),  # 0.31 pp
    ],
)
def test_guardrail_threshold_boundaries(treatment_errors, status, expected):
    analysis = run(with_guardrail(WIN, 500, treatment_errors))
    (guardrail,) = analysis.guardrails
    delta_pp = guardrail.metric.comparison.abs_lift * 100
    assert delta_pp == pytest.approx((treatment_errors - 500) / 100, abs=1e-12)
    assert guardrail.metric.comparison.p_value > 0.2
    assert guardrail.status == status
    assert verdict(analysis) == expected


@pytest.mark.parametrize(
    ("treatment_rate", "status"),
    [
        (600, "ok"),  # +1 pp: better
        (490, "ok"),  # a drop of exactly 0.10 pp
        (489, "worsened"),
        (470, "worsened"),  # a drop of exactly 0.30 pp
        (469, "severe"),
    ],
)
def test_higher_is_better_guardrail_harm_is_a_drop(treatment_rate, status):
    lines = with_guardrail(WIN, 500, treatment_rate, name="guardrail_checkout")
    analysis = run(lines, higher_is_better=frozenset({"guardrail_checkout"}))
    (guardrail,) = analysis.guardrails
    assert guardrail.higher_is_better
    assert guardrail.harm_pp == pytest.approx((500 - treatment_rate) / 100, abs=1e-12)
    assert guardrail.status == status


def test_guardrail_worsened_by_significance_below_the_pp_threshold():
    """Δ = +0.09 pp, under 0.1 pp, but on 2 million users per arm p < 0.05: worsened (SPEC §2.4:
    bad direction and (|Δ| > 0.1 pp or p < 0.05))."""
    lines = [
        f"{HEADER},guardrail_errors",
        "control,2000000,200000,20000",
        "treatment,2000000,204000,21800",
    ]
    analysis = run(lines)
    (guardrail,) = analysis.guardrails
    assert guardrail.metric.comparison.abs_lift * 100 == pytest.approx(0.09)
    reference = sm_two_proportions(21800, 2_000_000, 20000, 2_000_000, method="wald")
    assert guardrail.metric.comparison.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert reference.pvalue < 0.05
    assert guardrail.status == "worsened"
    assert verdict(analysis) == ("hold", 5)


def test_guardrail_thresholds_from_the_charter():
    spec = GuardrailSpec("guardrail_errors", worsened_pp=0.5, severe_pp=1.0)
    analysis = run(with_guardrail(WIN, 500, 530), guardrails=(spec,))
    assert analysis.guardrails[0].status == "ok"
    assert verdict(analysis) == ("launch", 6)


def test_rule_6_launch():
    analysis = run(two_arms(WIN))
    assert verdict(analysis) == ("launch", 6)
    assert analysis.verdict.arm == "treatment"


def test_rule_7_not_significant_holds_with_the_sample_needed():
    analysis = run(two_arms(FLAT))
    assert not analysis.primary[0].significant
    assert verdict(analysis) == ("hold", 7)
    # SPEC §2.10 by hand: p₁ = 0.10, p₂ = 0.101, Δ = 0.001, α = 0.05, power 0.8.
    p1, p2 = 0.10, 0.101
    p_bar = (p1 + p2) / 2
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    n = z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    n = n**2 / (p2 - p1) ** 2
    assert analysis.verdict.sample_needed_per_arm == pytest.approx(n, abs=1.5)
    assert f"{analysis.verdict.sample_needed_per_arm:,}" in analysis.verdict.next_actions[0]


def test_small_counts_use_the_score_test_and_say_so():
    analysis = run([HEADER, "control,150,1", "treatment,150,7"])  # 1 conversion < 10
    (primary,) = analysis.primary
    assert primary.comparison.method == "score"
    assert any("control has 1 conversion, fewer than 30" in note for note in primary.notes)
    reference = sm_two_proportions(7, 150, 1, 150, method="score")
    assert primary.comparison.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    (finding,) = [f for f in analysis.health.findings if f.code == "score_test"]
    assert finding.severity == "info"
    assert finding.column == primary.name


def test_few_events_in_a_small_holdout_do_not_launch_on_the_wald_test():
    """An ad test against a 464-user holdout with 5 conversions (2.59 % vs 1.08 %): the Wald
    z-test gives p = 0.0025 and a relative interval [−70.8 %, +351.8 %] that crosses 0. The
    score test (statsmodels) gives p = 0.042; Fisher's exact test (scipy) 0.048; both < 0.05,
    and the score intervals of the difference and relative lift now both exclude 0."""
    analysis = run([HEADER, "psa,464,5", "ad,12000,311"], control="psa", split=(464, 12_000))
    (primary,) = analysis.primary
    c = primary.comparison
    assert c.method == "score"
    reference = sm_two_proportions(311, 12_000, 5, 464, method="score")
    assert c.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert stats.fisher_exact([[311, 11_689], [5, 459]]).pvalue == pytest.approx(0.048, abs=5e-4)
    assert c.p_value == pytest.approx(0.0418, abs=1e-4)
    assert primary.significant
    assert c.abs_ci[0] > 0 and c.rel_ci[0] > 0


def test_sequential_look_not_crossed_holds():
    """p ≈ 6e-6 (z = 4.52), yet at look 1 of 5 the O'Brien–Fleming-type boundary (t = 0.2) is
    |z| ≥ 4.88: not yet conclusive, Hold. At look 5 of 5 the same data launches."""
    analysis = run(two_arms(WIN), look=1, of_looks=5)
    assert analysis.primary[0].comparison.p_value < 0.001
    assert not analysis.primary[0].significant
    assert verdict(analysis) == ("hold", 7)
    assert "not yet conclusive" in analysis.verdict.reason
    assert verdict(run(two_arms(WIN), look=5, of_looks=5)) == ("launch", 6)


# --------------------------------------------------------------------------- several treatments


def three_arms(b: str, c: str, guardrails: tuple[int, int, int] | None = None) -> list[str]:
    rows = ["control,10000,1000", f"b,{b}", f"c,{c}"]
    if guardrails is None:
        return [HEADER, *rows]
    return [f"{HEADER},guardrail_errors"] + [
        f"{r},{g}" for r, g in zip(rows, guardrails, strict=True)
    ]


def test_multi_variant_launches_the_best_qualifying_arm():
    analysis = run(three_arms("10000,1200", "10000,1400"))
    assert verdict(analysis) == ("launch", 6)
    assert analysis.verdict.arm == "c"
    assert analysis.overall is not None
    table = [[1000, 9000], [1200, 8800], [1400, 8600]]
    assert analysis.overall.p_value == pytest.approx(
        stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9
    )


def test_multi_variant_skips_a_bigger_lift_with_a_worsened_guardrail():
    analysis = run(three_arms("10000,1400", "10000,1200", guardrails=(500, 540, 500)))
    statuses = {g.metric.arm: g.status for g in analysis.guardrails}
    assert statuses == {"b": "severe", "c": "ok"}
    assert verdict(analysis) == ("launch", 6)
    assert analysis.verdict.arm == "c"


def test_multi_variant_rolls_back_when_every_treatment_is_rolled_back():
    worse = run(three_arms("10000,800", "10000,850"))
    assert verdict(worse) == ("rollback", 3)
    mixed = run(three_arms("10000,800", "10000,1200", guardrails=(500, 500, 560)))
    assert {g.metric.arm: g.status for g in mixed.guardrails}["c"] == "severe"
    assert verdict(mixed) == ("rollback", 3)  # the most basic rule among the arms' calls


def test_multi_variant_holds_otherwise():
    one_bad_one_flat = run(three_arms("10000,800", "10000,1010"))
    assert verdict(one_bad_one_flat) == ("hold", 7)
    worsened = run(three_arms("10000,1200", "10000,1200", guardrails=(500, 520, 520)))
    assert verdict(worsened) == ("hold", 5)


def test_significance_is_after_the_multiple_comparison_correction():
    """Both treatments at p ≈ 0.03: Holm makes them 0.06 (Hold); BH leaves 0.03 (Launch)."""
    b = c = "10000,1090"
    nominal = sm_two_proportions(1090, 10000, 1000, 10000, method="wald").pvalue
    assert 0.025 < nominal < 0.05
    holm = run(three_arms(b, c))
    assert [m.p_value_adjusted for m in holm.primary] == pytest.approx([2 * nominal] * 2)
    assert verdict(holm) == ("hold", 7)
    assert verdict(run(three_arms(b, c), correction="bonferroni")) == ("hold", 7)
    bh = run(three_arms(b, c), correction="bh")
    assert [m.p_value_adjusted for m in bh.primary] == pytest.approx([nominal] * 2)
    assert verdict(bh) == ("launch", 6)


# --------------------------------------------------------------------------- the rule in words


def test_a_launch_without_guardrails_never_says_no_guardrail_worsened():
    analysis = run(two_arms(WIN))
    assert analysis.guardrails == ()
    assert "no guardrail was checked" in analysis.verdict.reason
    shown = render_text(analysis) + render_markdown(analysis)
    assert "no guardrail worsened" not in shown
    assert "Rule: the primary improved significantly (no guardrail was checked)" in shown
    guarded = run(with_guardrail(WIN, 100, 100))
    assert guarded.verdict.reason.endswith("; no guardrail worsened.")


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ([HEADER, "control,1000,1001", "b,1000,120"], "the data is blocked"),
        (two_arms(LOSS), "the primary metric worsened significantly, so the verdict is Rollback"),
        (
            with_guardrail(WIN, 100, 400),
            "a guardrail worsened severely, so the verdict is Rollback",
        ),
        (two_arms(FLAT), "the primary did not change significantly, so the verdict is Hold"),
        (with_guardrail(WIN, 100, 100), "and no guardrail worsened, so the verdict is Launch"),
    ],
)
def test_text_and_memo_state_the_rule_in_words_not_by_number(lines, words):
    analysis = run(lines)
    for shown in (render_text(analysis), render_markdown(analysis), render_html(analysis)):
        assert "Rule: " in shown and words in shown
        assert "§2.9" not in shown and not re.search(r"\brule \d\b", shown, re.IGNORECASE)


def test_per_arm_reasons_read_as_one_sentence() -> None:
    """Three arms, one not significant and one hurting: the reasons are joined by '; ' with one
    full stop at the end (not 'is not significant.; b hurts')."""
    csv = b"variant,users,conversions\ncontrol,20000,2000\nb,20000,2010\nc,20000,1800\n"
    analysis = analyze(csv, file_name="three.csv")
    reason = analysis.verdict.reason
    assert reason.startswith(("No treatment qualifies: ", "Every treatment"))
    assert ".;" not in reason and reason.endswith(".") and not reason.endswith("..")
    assert "; " in reason
