"""Hostile and extreme inputs: each answers (a finding, a verdict or a one-line error), never a
traceback or a verdict the data does not support.

Each test reproduces one defect found by fuzzing; the expected figures come from an independent
computation (exact integer arithmetic, scipy) or a property the statistic must have.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bot.message_options import message_options
from experimentos.analysis.assemble import analyze
from experimentos.cli.commands import main
from experimentos.errors import OptionError, UnreadableFileError
from experimentos.model import Analysis, Options
from experimentos.options import build_options
from experimentos.stats.proportions import fisher_exact_p
from experimentos.stats.sequential import MAX_LOOKS, boundaries, look_status

ZERO_VS_ALL = "variant,users,conversions\ncontrol,1000,0\ntreatment,1000,1000\n"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a separate process, so a crash shows as a traceback."""
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ.copy(),
    )


def cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, csv: str, *args: str
) -> tuple[int, str, str]:
    """``experimentos analyze FILE ARGS`` in this process: (exit code, stdout, stderr)."""
    path = tmp_path / "hostile.csv"
    path.write_text(csv)
    code = main(["analyze", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def analysed(csv: str, options: Options = Options()) -> Analysis:
    return analyze(csv.encode(), file_name="hostile.csv", options=options)


def blocked_by(analysis: Analysis, code: str) -> list:
    return [f for f in analysis.health.findings if f.code == code and f.severity == "blocked"]


# --------------------------------------------------------------------------- empty guardrail cell

EMPTY_GUARDRAIL = (
    "variant,users,conversions,guardrail_error\ncontrol,5000,500,\ntreatment,5000,510,\n"
)


def test_an_empty_guardrail_column_is_missing_data_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "empty_guardrail.csv"
    path.write_text(EMPTY_GUARDRAIL)
    result = run_cli("analyze", str(path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("HOLD")
    assert "Line 2: guardrail_error is empty" in result.stdout


@pytest.mark.parametrize(
    ("control_cell", "treatment_cell", "lines"),
    [("", "", [2, 3]), ("12", "", [3]), ("", "12", [2])],
)
def test_an_empty_guardrail_cell_blocks_naming_its_line_and_column(
    control_cell: str, treatment_cell: str, lines: list[int]
) -> None:
    csv = (
        "variant,users,conversions,guardrail_error\n"
        f"control,5000,500,{control_cell}\ntreatment,5000,510,{treatment_cell}\n"
    )
    analysis = analysed(csv)
    findings = blocked_by(analysis, "not_a_number")
    assert [(f.row, f.column) for f in findings] == [(n, "guardrail_error") for n in lines]
    assert all("missing" in f.message for f in findings)
    assert analysis.verdict.kind == "hold" and analysis.verdict.rule == 1


def test_an_empty_column_named_as_a_guardrail_is_missing_data_not_a_missing_column() -> None:
    csv = "variant,users,conversions,errors\ncontrol,5000,500,\ntreatment,5000,510,\n"
    analysis = analysed(csv, build_options(guardrails="errors"))
    findings = blocked_by(analysis, "not_a_number")
    assert [(f.row, f.column) for f in findings] == [(2, "errors"), (3, "errors")]
    assert not blocked_by(analysis, "missing_guardrail")


# --------------------------------------------------------------------------- duplicated columns


@pytest.mark.parametrize(
    "csv",
    [
        "variant,users,conversions,conversions\ncontrol,1000,100,100\ntreatment,1000,150,150\n",
        "variant,users,conversions,Conversions\ncontrol,1000,100,100\ntreatment,1000,150,150\n",
        "variant,users,conversions,guardrail_x,guardrail_x\n"
        "control,1000,100,5,5\ntreatment,1000,150,5,5\n",
    ],
    ids=["aggregated", "case-folded", "guardrail"],
)
def test_a_duplicated_column_blocks_an_aggregated_file_like_a_user_level_one(csv: str) -> None:
    analysis = analysed(csv)
    duplicates = blocked_by(analysis, "duplicate_column")
    assert len(duplicates) == 1
    name = duplicates[0].column
    assert name in ("conversions", "guardrail_x")
    assert f"{name!r} appears twice" in duplicates[0].message
    assert analysis.verdict.kind == "hold"
    assert not any(m.name.endswith(".1") for m in analysis.secondary)
    user_level = analysed(
        "user_id," + csv.replace("\ncontrol", "\n1,control").replace("\ntr", "\n2,tr")
    )
    assert [f.code for f in blocked_by(user_level, "duplicate_column")] == ["duplicate_column"]


def test_a_duplicated_column_blocks_on_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = "variant,users,conversions,conversions\ncontrol,1000,100,100\ntreatment,1000,150,150\n"
    code, out, _ = cli(capsys, tmp_path, csv)
    assert code == 0
    assert out.startswith("HOLD")
    assert "Column 'conversions' appears twice (columns 3 and 4)" in out


# --------------------------------------------------------------------------- moments near the limit

RATIO_HEADER = (
    "variant,users,conversions,"
    "aov_num_sum,aov_num_sum_sq,aov_den_sum,aov_den_sum_sq,aov_num_den_sum,m_sum,m_sum_sq"
)


def test_ratio_sums_near_the_float_limit_are_a_finding_not_an_overflow(tmp_path: Path) -> None:
    csv = (
        f"{RATIO_HEADER}\n"
        "control,20000,1953,125522.66,11361802.05,1e200,1e307,253074.95,10,20\n"
        "treatment,20000,2193,133905.60,11632416.53,3577,7223,274013.96,10,20\n"
    )
    path = tmp_path / "huge_ratio.csv"
    path.write_text(csv)
    result = run_cli("analyze", str(path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # Σy² ≥ (Σy)²/n fails, checked exactly in integers: 1e307·20000 < (1e200)²
    assert int(1e307) * 20000 < int(1e200) ** 2
    analysis = analysed(csv)
    problems = blocked_by(analysis, "inconsistent_moments")
    assert [(f.row, f.column) for f in problems] == [(2, "aov_den_sum_sq")]


@pytest.mark.parametrize(
    "cells",
    [
        "1e300,1e307,1e300,1e307,1e307",  # sums too large for their squares
        "1,1.7e308,1,1.7e308,1.7e308",  # Σx², Σy², Σxy at the limit
        "-1e200,1e307,1e200,1e307,-1e307",
        "1e150,1e306,1e150,1e306,1e306",
    ],
)
def test_extreme_ratio_moments_never_raise(cells: str) -> None:
    csv = (
        f"{RATIO_HEADER}\n"
        f"control,20000,1953,{cells},10,20\n"
        "treatment,20000,2193,133905.60,11632416.53,3577,7223,274013.96,10,20\n"
    )
    analysis = analysed(csv)  # must not raise
    for problem in analysis.health.findings:
        assert (problem.row, problem.column) in {
            (2, f"aov{s}") for s in ("_num_sum_sq", "_den_sum_sq", "_num_den_sum")
        }
    for metric in analysis.secondary:
        p = metric.comparison.p_value
        assert math.isnan(p) or 0.0 <= p <= 1.0
        if math.isnan(p) and metric.name == "aov":
            assert metric.notes, "a ratio that cannot be tested says why"


SCALE = 2.0**496
"""≈ 2e149: a power of two, so scaled sums are exact; Σx² stays finite but (Σx)² overflows."""


def _sums(x: np.ndarray, y: np.ndarray, scale: float) -> list[float]:
    xs, ys = x * scale, y * scale
    return [
        float(v) for v in (xs.sum(), (xs * xs).sum(), ys.sum(), (ys * ys).sum(), (xs * ys).sum())
    ]


def test_moments_near_the_float_limit_give_the_same_tests_as_unscaled_data() -> None:
    """Welch's t and the delta-method ratio do not depend on the unit (x and y scaled alike):
    data in units of 2⁴⁹⁵ must give the p-values of the same data in units of 1, and those
    match scipy's Welch test on the sufficient statistics."""
    rng = np.random.default_rng(7)
    arms = {
        arm: (rng.gamma(2.0, 30.0, 2000), rng.poisson(2.0, 2000) + 1.0)
        for arm in ("control", "treatment")
    }
    arms["treatment"] = (arms["treatment"][0] * 1.05, arms["treatment"][1])

    def csv(scale: float) -> str:
        rows = [RATIO_HEADER]
        for arm, (x, y) in arms.items():
            ratio = _sums(x, y, scale)
            rows.append(f"{arm},2000,100," + ",".join(map(repr, [*ratio, ratio[0], ratio[1]])))
        return "\n".join(rows) + "\n"

    plain, scaled = analysed(csv(1.0)), analysed(csv(SCALE))
    assert scaled.health.status != "blocked", scaled.health.findings
    # (Σx)² overflows at this scale: what the old variance formula computed before dividing by n
    total, total_sq = _sums(*arms["control"], SCALE)[:2]
    assert math.isfinite(total_sq) and math.isinf(total * total)
    by_name = {m.name: m for m in plain.secondary}
    for metric in scaled.secondary:
        expected = by_name[metric.name].comparison.p_value
        assert math.isfinite(metric.comparison.p_value), metric
        assert metric.comparison.p_value == pytest.approx(expected, rel=1e-9)
    x_c, x_t = arms["control"][0], arms["treatment"][0]
    welch = stats.ttest_ind_from_stats(
        x_t.mean(), x_t.std(ddof=1), 2000, x_c.mean(), x_c.std(ddof=1), 2000, equal_var=False
    )
    m = next(m for m in scaled.secondary if m.name == "m")
    assert m.comparison.p_value == pytest.approx(welch.pvalue, rel=1e-9)


# --------------------------------------------------------------------------- infinite z and looks


def test_zero_against_everyone_launches_with_planned_looks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, tmp_path, ZERO_VS_ALL, "--look", "1", "--of", "2")
    assert code == 0, err
    assert out.startswith("LAUNCH")
    analysis = analysed(ZERO_VS_ALL, build_options(look=1, of_looks=2))
    assert analysis.sequential is not None and analysis.sequential.crossed
    assert analysis.verdict.kind == "launch"
    # the same verdict as without the looks
    assert analysed(ZERO_VS_ALL).verdict.kind == "launch"


@pytest.mark.parametrize("z", [math.inf, -math.inf])
def test_an_infinite_z_crosses_any_finite_boundary(z: float) -> None:
    status = look_status(z=z, look=1, information_fractions=(0.5, 1.0))
    assert math.isfinite(status.boundary_z) and status.crossed
    # OBF spends 4·Φ̄(z_{α/4}/√t) by t = 1e-7: below the smallest double, so no α at all
    assert stats.norm.sf(stats.norm.isf(0.05 / 4) / math.sqrt(1e-7)) == 0.0
    early = look_status(z=z, look=1, information_fractions=(1e-7, 1.0))
    assert math.isinf(early.boundary_z) and not early.crossed
    with pytest.raises(ValueError, match="finite number or"):
        look_status(z=math.nan, look=1, information_fractions=(0.5, 1.0))


def test_a_look_with_no_alpha_to_spend_says_so_instead_of_an_infinite_boundary() -> None:
    csv = "variant,users,conversions\ncontrol,20000,2000\ntreatment,20000,2200\n"
    options = Options(look=1, of_looks=2, look_fractions=(1e-7,))
    analysis = analysed(csv, options)
    assert analysis.sequential is not None and math.isinf(analysis.sequential.boundary_z)
    assert analysis.verdict.kind == "hold"
    texts = [analysis.verdict.reason, *analysis.warnings, *analysis.primary[0].notes]
    assert not any(re.search(r"\binf\b", t) for t in texts), texts
    assert "spends no α" in analysis.verdict.reason


@pytest.mark.parametrize("of", ["1000000", str(MAX_LOOKS + 1), "0"])
def test_an_absurd_number_of_looks_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, of: str
) -> None:
    code, out, err = cli(capsys, tmp_path, ZERO_VS_ALL, "--look", "1", "--of", of)
    assert code == 2
    assert out == ""
    assert f"from 1 to {MAX_LOOKS}" in err and err.count("\n") == 1
    with pytest.raises(OptionError, match=f"from 1 to {MAX_LOOKS}"):
        message_options(f"look: 1\nof: {of}")
    assert main(["power", "--baseline", "0.1", "--mde", "0.01", "--looks", of]) == 2
    assert f"from 1 to {MAX_LOOKS}" in capsys.readouterr().err


def test_the_largest_plan_allowed_has_finite_boundaries() -> None:
    plan = boundaries([k / MAX_LOOKS for k in range(1, MAX_LOOKS + 1)])
    assert all(math.isfinite(b.z) for b in plan)
    # look 1 of K: P(|Z| ≥ b) = α(1/K), so b = Φ̄⁻¹(α(1/K)/2), from scipy
    spent = 4 * stats.norm.sf(stats.norm.isf(0.05 / 4) * math.sqrt(MAX_LOOKS))
    assert plan[0].z == pytest.approx(stats.norm.isf(spent / 2), rel=1e-6)


# --------------------------------------------------------------------------- margins on no events


def test_a_margin_on_a_guardrail_without_events_is_not_a_worsening(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = "variant,users,conversions,guardrail_error\ncontrol,5000,500,0\ntreatment,5000,600,0\n"
    code, out, _ = cli(capsys, tmp_path, csv, "--margins", "guardrail_error=1%")
    assert code == 0
    assert out.startswith("LAUNCH")
    analysis = analysed(csv, build_options(margins="guardrail_error=1%"))
    # the primary alone decides: scipy's two-sided z-test p < 0.05
    assert (
        stats.norm.sf(abs(0.12 - 0.10) / math.sqrt(0.1 * 0.9 / 5000 + 0.12 * 0.88 / 5000)) < 0.025
    )
    assert analysis.verdict.kind == "launch"
    (guardrail,) = analysis.guardrails
    assert guardrail.status == "ok"
    assert guardrail.within_margin is None and guardrail.margin_rel is None
    (note,) = [f for f in analysis.health.findings if f.code == "margin_not_tested"]
    assert note.severity == "info" and note.column == "guardrail_error"
    assert "could not be tested" in note.message and "no evidence of harm" in note.message
    assert analysis.health.status == "healthy"


def test_a_margin_that_cannot_be_tested_falls_back_to_the_absolute_rule() -> None:
    """0 errors in control, 30 in treatment: no relative change exists, but +0.6 pp is harm."""
    csv = "variant,users,conversions,guardrail_error\ncontrol,5000,500,0\ntreatment,5000,600,30\n"
    analysis = analysed(csv, build_options(margins="guardrail_error=1%"))
    (guardrail,) = analysis.guardrails
    assert stats.fisher_exact([[30, 4970], [0, 5000]]).pvalue < 0.05
    assert guardrail.status in ("worsened", "severe")
    assert analysis.verdict.kind != "launch"
    assert any(f.code == "margin_not_tested" for f in analysis.health.findings)


# --------------------------------------------------------------------------- split


@pytest.mark.parametrize("split", ["inf/1", "1/inf", "nan/1", "1e400/1", "0/1", "-1/2"])
def test_a_split_with_a_non_finite_or_non_positive_part_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, split: str
) -> None:
    code, out, err = cli(capsys, tmp_path, ZERO_VS_ALL, f"--split={split}")
    assert code == 2
    assert out == ""
    assert "split needs two or more positive, finite parts" in err and err.count("\n") == 1
    with pytest.raises(OptionError, match="positive, finite"):
        message_options(f"split: {split}")


@pytest.mark.parametrize("split", ["1e-320/1", "1/1e9", "5e-324/1/1"])
def test_a_split_that_starves_an_arm_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, split: str
) -> None:
    """A finite, positive but vanishing part made the SRM chi-square infinite, which the history's
    JSON stores as null and reads back as NaN."""
    code, out, err = cli(capsys, tmp_path, ZERO_VS_ALL, f"--split={split}")
    assert code == 2
    assert out == ""
    assert "one in a million" in err and err.count("\n") == 1
    with pytest.raises(OptionError, match="one in a million"):
        message_options(f"split: {split}")


def test_a_split_of_huge_parts_is_the_same_split() -> None:
    """1e308/1e308 overflows a plain sum; it is still 50/50 (SRM p from scipy's chi-square)."""
    data = "variant,users,conversions\ncontrol,1000,100\ntreatment,1100,110\n"
    huge = analyze(data.encode(), file_name="s.csv", options=build_options(split="1e308/1e308"))
    assert huge.health.srm is not None
    expected = stats.chisquare([1000, 1100], [1050, 1050]).pvalue
    assert huge.health.srm.p_value == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------- counts above 2⁵³


def _fisher_exact_by_definition(table: list[list[int]]) -> float:
    """Two-sided Fisher p from the hypergeometric pmf C(r₁,a)·C(r₂,c₁−a)/C(N,c₁) in exact
    integers (math.comb), summing the tables no more likely than the observed one."""
    (a, b), (c, d) = table
    r1, r2, c1 = a + b, c + d, a + c
    total = math.comb(r1 + r2, c1)
    support = range(max(0, c1 - r2), min(r1, c1) + 1)
    pmf = {x: Fraction(math.comb(r1, x) * math.comb(r2, c1 - x), total) for x in support}
    observed = pmf[a]
    return float(sum(p for p in pmf.values() if p <= observed * Fraction(10_000_001, 10_000_000)))


def test_counts_above_2_53_pooled_over_segments_block() -> None:
    n = 2**53 - 1  # every cell is below the limit
    rows = ["variant,segment,users,conversions"]
    for segment in "abc":
        rows += [f"control,{segment},{n},{n - 1}", f"treatment,{segment},{n},{n - 1}"]
    analysis = analysed("\n".join(rows) + "\n")
    problems = blocked_by(analysis, "count_too_large")
    assert {(f.column, f.message.split("'")[1]) for f in problems} == {
        (column, arm) for column in ("users", "conversions") for arm in ("control", "treatment")
    }
    assert analysis.verdict.kind == "hold" and analysis.verdict.rule == 1


def test_fisher_exact_test_is_exact_for_margins_near_2_53() -> None:
    n = 3 * (2**53 - 1)
    for table in ([[n - 3, 3], [n - 3, 3]], [[n - 1, 1], [n - 7, 7]], [[2**53 - 5, 5], [2**53, 0]]):
        assert fisher_exact_p(table) == pytest.approx(_fisher_exact_by_definition(table), rel=1e-9)


def test_a_history_longer_than_any_plan_warns_instead_of_failing() -> None:
    """The Slack bot sets ``of_looks = max(planned, look)``: look 150 of an experiment that had
    20 planned looks reaches the analysis without going through the option parser."""
    csv = "variant,users,conversions\ncontrol,20000,2000\ntreatment,20000,2200\n"
    analysis = analysed(csv, Options(look=MAX_LOOKS + 50, of_looks=MAX_LOOKS + 50))
    assert analysis.sequential is None
    assert any("no boundary is computed" in w for w in analysis.warnings)


def test_a_header_cell_beyond_the_csv_field_limit_is_named_not_called_empty(
    tmp_path: Path,
) -> None:
    """A 300 KB column name used to be reported as 'is empty: there is no header row'."""
    import csv

    path = tmp_path / "wide_header.csv"
    path.write_text(
        "variant,users,conversions," + "x" * 300_000 + "\ncontrol,100,10,1\ntreatment,100,12,1\n"
    )
    with pytest.raises(UnreadableFileError) as caught:
        analyze(path.read_bytes(), file_name=path.name)
    message = str(caught.value)
    assert "header row cannot be read" in message
    assert f"{csv.field_size_limit():,}" in message
    assert "is empty" not in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_export_is_named_as_such_not_called_binary(encoding: str) -> None:
    data = "variant,users,conversions\ncontrol,100,10\ntreatment,100,12\n".encode(encoding)
    with pytest.raises(UnreadableFileError, match="UTF-16 text") as caught:
        analyze(data, file_name="unicode.txt")
    assert "CSV UTF-8" in str(caught.value)


@pytest.mark.parametrize("data", [b"\x00" * 64, bytes(range(256)) * 4])
def test_binary_files_are_still_called_binary(data: bytes) -> None:
    with pytest.raises(UnreadableFileError, match="binary file"):
        analyze(data, file_name="blob.csv")


def test_a_mean_without_variance_says_why_it_has_no_test() -> None:
    """Every user has revenue 5 in both arms: Welch's test is undefined (scipy gives NaN too);
    the report says so instead of printing '+nan'."""
    data = (
        "variant,users,conversions,revenue_sum,revenue_sum_sq\n"
        "control,1000,100,5000,25000\ntreatment,1000,110,5000,25000\n"
    )
    reference = stats.ttest_ind_from_stats(5, 0, 1000, 5, 0, 1000, equal_var=False)
    assert math.isnan(reference.pvalue)
    analysis = analyze(data.encode(), file_name="flat.csv")
    [revenue] = [m for m in analysis.secondary if m.name == "revenue"]
    assert math.isnan(revenue.comparison.p_value)
    assert any("No test for revenue" in note and "no variance" in note for note in revenue.notes)
    from experimentos.report.text import render

    report = render(analysis)
    assert "nan" not in report
    assert "No test for revenue" in report


@pytest.mark.parametrize("mention", ["<!everyone>", "<!here>", "<@U123ABC>", "<#C0123|general>"])
def test_an_error_quoting_an_option_never_carries_a_mention(mention: str) -> None:
    """Found by benchmarks/fuzz_bench.py: the margins error quoted the option raw."""
    with pytest.raises(OptionError) as caught:
        build_options(margins=f"guardrail_error_{mention}=1e308%")
    message = caught.value.message
    assert mention not in message and "‹" + mention[1:] in message
    assert str(caught.value) == message


def test_an_error_never_carries_control_or_bidi_characters(tmp_path: Path) -> None:
    name = "\x1b[31mred\u202eevil.csv"
    with pytest.raises(UnreadableFileError) as caught:
        analyze(b"", file_name=name)
    assert not re.search(
        "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", str(caught.value)
    )
    assert "[31mredevil.csv" in str(caught.value)
