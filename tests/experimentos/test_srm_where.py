"""When the arms' split is off, the findings say where: per value of every categorical column of a
user-level file, each cell's chi-square p (checked against scipy's ``chisquare``), Bonferroni over
the cells checked; and a checklist of the known causes in the memo and the card's Details."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chisquare, ttest_ind

from bot.render.details import render_details
from experimentos import ingest
from experimentos.analysis.assemble import analyze
from experimentos.ingest import userlevel_queries as sql
from experimentos.model import Analysis, Options, Thresholds
from experimentos.report.memo import render_markdown

THRESHOLDS = Thresholds()


def user_file(
    cells: dict[str, tuple[int, int]], *, seed: int = 7, extra: str = "", repeat: int = 0
) -> bytes:
    """Users per platform and arm as given, a country independent of everything, shuffled.

    ``extra="device"`` adds a column with a distinct value per user (too many to break down);
    ``repeat`` users get a second row (same user, arm and platform: the keyed path).
    """
    rng = np.random.default_rng(seed)
    header = "user_id,variant,platform,country,converted" + (",device" if extra else "")
    rows = []
    uid = 0
    for platform, counts in cells.items():
        for arm, n in zip(("control", "treatment"), counts, strict=True):
            for _ in range(n):
                uid += 1
                country = rng.choice(["us", "de", "fr"])
                row = f"{uid},{arm},{platform},{country},{int(rng.random() < 0.1)}"
                rows.append(row + (f",d{uid}" if extra else ""))
    rows += rows[:repeat]
    order = rng.permutation(len(rows))
    return "\n".join([header, *(rows[i] for i in order)]).encode()


def run(data: bytes, options: Options = Options()) -> Analysis:
    return analyze(data, file_name="export.csv", options=options, thresholds=THRESHOLDS)


IMBALANCED = {"ios": (5210, 4100), "android": (4000, 4000), "web": (2500, 2500)}


def where(analysis: Analysis) -> list[str]:
    return [f.message for f in analysis.health.findings if f.code == "srm_where"]


def test_imbalanced_platform_is_named_with_its_counts_and_scipy_p() -> None:
    analysis = run(user_file(IMBALANCED))
    srm = analysis.health.srm
    assert srm is not None and srm.p_value < THRESHOLDS.srm_blocked_p
    (message,) = where(analysis)
    assert message.startswith("SRM is concentrated in platform = 'ios'")
    assert "control 5,210" in message and "treatment 4,100" in message
    top = srm.breakdown[0]
    assert (top.column, top.value) == ("platform", "ios")
    assert dict(top.observed) == {"control": 5210, "treatment": 4100}
    assert top.p_value == pytest.approx(chisquare([5210, 4100]).pvalue, rel=1e-9)
    assert f"p = {top.p_value:.2g}" in message
    # Every cell has its own p, ranked; Bonferroni over all cells checked.
    assert [c.p_value for c in srm.breakdown] == sorted(c.p_value for c in srm.breakdown)
    assert srm.cells_checked == len(srm.breakdown) == 6  # 3 platforms + 3 countries
    assert [c for c, _ in srm.columns_checked] == ["platform", "country"]
    for cell in srm.breakdown:
        expected = chisquare([n for _, n in cell.observed]).pvalue
        assert cell.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)
        assert cell.significant == (expected * 6 < THRESHOLDS.srm_warning_p)
    balanced = {c.value: c for c in srm.breakdown if c.column == "platform" and c.value != "ios"}
    assert balanced["android"].p_value == pytest.approx(1.0)
    assert not balanced["android"].significant
    assert "6 value(s) of 2 column(s) checked" in message
    # country is independent of the imbalance: every value is off alike, not where it comes from.
    assert "country: every value is off alike" in message
    assert "country = " not in message.split("Balanced")[0]


def test_balanced_file_has_no_breakdown_and_runs_no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = sql.dimension_counts
    monkeypatch.setattr(
        sql, "dimension_counts", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    data = user_file({"ios": (3000, 3000), "android": (2000, 2000)})
    parsed = ingest.parse(data, file_name="export.csv", thresholds=THRESHOLDS)
    assert parsed.dimensions == () and calls == []
    off = ingest.parse(user_file(IMBALANCED), file_name="export.csv", thresholds=THRESHOLDS)
    assert calls == [1] and {c.column for c in off.dimensions} == {"platform", "country"}
    analysis = run(data)
    assert analysis.health.srm is not None and analysis.health.srm.breakdown == ()
    assert where(analysis) == []


def test_expected_split_is_used_for_each_cell() -> None:
    # Planned 2:1; ios is 1:1 (off), android is 2:1 (on plan).
    data = user_file({"ios": (3000, 3000), "android": (4000, 2000)})
    analysis = run(data, Options(split=(2.0, 1.0)))
    srm = analysis.health.srm
    assert srm is not None and srm.breakdown
    top = srm.breakdown[0]
    assert (top.column, top.value) == ("platform", "ios")
    assert top.p_value == pytest.approx(chisquare([3000, 3000], f_exp=[4000, 2000]).pvalue)
    android = next(c for c in srm.breakdown if c.value == "android")
    assert android.p_value == pytest.approx(chisquare([4000, 2000], f_exp=[4000, 2000]).pvalue)
    assert "platform = 'ios'" in where(analysis)[0]


def test_repeated_users_are_counted_once_per_cell() -> None:
    # 40 users appear twice: the keyed path counts users, not rows.
    analysis = run(user_file(IMBALANCED, repeat=40))
    srm = analysis.health.srm
    assert srm is not None
    ios = next(c for c in srm.breakdown if c.value == "ios")
    assert dict(ios.observed) == {"control": 5210, "treatment": 4100}
    assert ios.p_value == pytest.approx(chisquare([5210, 4100]).pvalue, rel=1e-9)


def test_column_with_too_many_values_is_not_broken_down() -> None:
    analysis = run(user_file(IMBALANCED, extra="device"))
    srm = analysis.health.srm
    assert srm is not None
    assert [c for c, _ in srm.columns_checked] == ["platform", "country"]
    assert all(c.column != "device" for c in srm.breakdown)


def test_imbalance_spread_evenly_names_no_value() -> None:
    # Every platform off by the same ratio: no value carries it.
    analysis = run(user_file({"ios": (3300, 3000), "android": (3300, 3000)}))
    (message,) = where(analysis)
    assert message.startswith("SRM breakdown: no value of platform, country carries")
    finding = next(f for f in analysis.health.findings if f.code == "srm_where")
    assert finding.severity == "info"


def rendered(analysis: Analysis) -> tuple[str, str]:
    """(memo as Markdown, the Details message's text)."""
    details = json.dumps([b.to_dict() for b in render_details(analysis)], ensure_ascii=False)
    return render_markdown(analysis), details


@pytest.mark.parametrize(
    "cells", [IMBALANCED, {"ios": (3300, 3000), "android": (3300, 3000)}], ids=["where", "spread"]
)
def test_memo_and_details_show_the_causes_when_srm_fired(cells: dict) -> None:
    memo, details = rendered(run(user_file(cells)))
    assert "Sample ratio mismatch: known causes to check" in memo
    assert "Sample ratio mismatch — known causes to check" in details
    for stage in ("Assignment", "Execution", "Log processing", "Analysis", "Interference"):
        assert f"**{stage}**" in memo and f"*{stage}*" in details
    assert "Fabijan et al." in memo and "KDD 2019" in memo
    assert "Fabijan et al." in details


def test_memo_and_details_show_no_causes_without_srm() -> None:
    analysis = run(user_file({"ios": (3000, 3000), "android": (2000, 2000)}))
    assert not analysis.health.srm_flagged
    memo, details = rendered(analysis)
    assert "known causes" not in memo and "Fabijan" not in memo
    assert "known causes" not in details and "Fabijan" not in details
    # The same renderers do show it for a file whose split is off.
    memo, details = rendered(run(user_file(IMBALANCED)))
    assert "known causes" in memo and "known causes" in details


def pre_period_file(shift: float, *, seed: int = 3) -> tuple[bytes, dict[str, list[float]]]:
    """1,200 control and 1,000 treatment users (SRM), revenue with a pre-period covariate whose
    treatment mean is shifted by ``shift``; also the pre values per arm, for scipy."""
    rng = np.random.default_rng(seed)
    rows, pre = ["user_id,variant,converted,revenue,pre_revenue"], {"control": [], "treatment": []}
    uid = 0
    for arm, n in (("control", 1200), ("treatment", 1000)):
        for _ in range(n):
            uid += 1
            before = round(float(rng.gamma(2.0, 5.0)) + (shift if arm == "treatment" else 0), 3)
            pre[arm].append(before)
            revenue = round(before * 0.8 + float(rng.normal(0, 2)), 3)
            rows.append(f"{uid},{arm},{int(rng.random() < 0.1)},{revenue},{before}")
    return "\n".join(rows).encode(), pre


@pytest.mark.parametrize("shift", [0.0, 2.0])
def test_pre_period_means_are_compared_with_welch(shift: float) -> None:
    data, pre = pre_period_file(shift)
    analysis = run(data)
    assert analysis.health.srm is not None and analysis.health.srm.p_value < 0.001
    (finding,) = [f for f in analysis.health.findings if f.code == "srm_pre_period"]
    p = ttest_ind(pre["treatment"], pre["control"], equal_var=False).pvalue
    assert f"Welch p = {p:.2g}" in finding.message
    if shift:
        assert p < 0.05 and "already differed before the experiment" in finding.message
        assert finding.severity == "warning"
    else:
        assert p > 0.05 and "alike before the experiment" in finding.message


def test_no_pre_period_check_without_srm() -> None:
    rng = np.random.default_rng(5)
    rows = ["user_id,variant,converted,revenue,pre_revenue"]
    for uid in range(2000):
        arm = "control" if uid % 2 else "treatment"
        rows.append(
            f"{uid},{arm},{int(rng.random() < 0.1)},{rng.normal(10, 2):.3f},{rng.normal(10, 2):.3f}"
        )
    analysis = run("\n".join(rows).encode())
    assert not analysis.health.srm_flagged
    assert all(f.code != "srm_pre_period" for f in analysis.health.findings)
    # The same columns with the split off do get the check.
    fired = run(pre_period_file(0.0)[0])
    assert any(f.code == "srm_pre_period" for f in fired.health.findings)
