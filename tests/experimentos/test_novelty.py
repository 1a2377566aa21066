"""The primary's lift by day of first exposure and the test of its trend (a novelty effect).

The slope, its SE and p are checked against statsmodels' weighted least squares with the
variances taken as known (``cov_type="fixed scale"``); per-day counts are recounted in plain
Python from the rows written, never taken from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.config import load_thresholds
from experimentos.model import Analysis, DayCount, Options
from experimentos.model_json import analysis_from_dict
from experimentos.report.memo import render_markdown
from experimentos.stats.novelty import lift_by_day, novelty_findings, wls_slope

START = dt.date(2024, 5, 1)
PER_ARM = 2000


def _statsmodels(x: list[float], y: list[float], se: list[float]) -> tuple[float, float, float]:
    design = sm.add_constant(np.asarray(x, dtype=float))
    fit = sm.WLS(np.asarray(y), design, weights=1.0 / np.asarray(se) ** 2).fit(
        cov_type="fixed scale"
    )
    return float(fit.params[1]), float(fit.bse[1]), float(fit.pvalues[1])


def _rows(treatment_rates: list[float], *, control_rate: float = 0.10) -> list[tuple]:
    """(user, arm, converted, timestamp): PER_ARM users per arm per day, exactly round(rate × n)
    of them converted, in a shuffled order."""
    rng = random.Random(7)
    rows: list[tuple] = []
    for d, t_rate in enumerate(treatment_rates):
        day_rows = []
        for arm, r in (("control", control_rate), ("treatment", t_rate)):
            k = round(r * PER_ARM)
            day_rows += [(arm, int(i < k)) for i in range(PER_ARM)]
        rng.shuffle(day_rows)
        for arm, y in day_rows:
            stamp = dt.datetime.combine(START + dt.timedelta(d), dt.time(rng.randrange(24), 30))
            rows.append((f"u{len(rows)}", arm, y, stamp.isoformat()))
    return rows


def _write(path: Path, rows: list[tuple], *, dated: bool = True) -> Path:
    if dated:
        lines = ["user_id,variant,converted,exposure_time"]
        lines += [",".join(map(str, r)) for r in rows]
    else:
        lines = ["user_id,variant,converted"] + [",".join(map(str, r[:3])) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _analyse(path: Path) -> Analysis:
    options, thresholds = Options(), load_thresholds()
    data = ingest.parse_path(path, options=options, thresholds=thresholds)
    return analyze_data(data, options=options, thresholds=thresholds)


def _recount(rows: list[tuple]) -> dict[str, dict[str, list[int]]]:
    """{day: {arm: [users, converted]}} by each user's earliest row."""
    first: dict[str, tuple[str, str, int]] = {}
    for user, arm, y, stamp in rows:
        day = stamp[:10]
        if user not in first or day < first[user][1]:
            first[user] = (arm, day, max(y, first.get(user, ("", "", 0))[2]))
        else:
            first[user] = (first[user][0], first[user][1], max(y, first[user][2]))
    out: dict[str, dict[str, list[int]]] = {}
    for arm, day, y in first.values():
        cell = out.setdefault(day, {}).setdefault(arm, [0, 0])
        cell[0] += 1
        cell[1] += y
    return out


def _expected(rows: list[tuple]) -> tuple[list[float], list[float], list[float]]:
    """(day index, lift, SE) of each day with ≥ 30 users per arm and each arm's rate strictly
    between 0 and 1, recomputed from the rows."""
    counts = _recount(rows)
    start = dt.date.fromisoformat(min(counts))
    x, y, se = [], [], []
    for day in sorted(counts):
        (nc, yc), (nt, yt) = (
            counts[day].get("control", [0, 0]),
            counts[day].get("treatment", [0, 0]),
        )
        if nc < 30 or nt < 30 or yc in (0, nc) or yt in (0, nt):
            continue
        pc, pt = yc / nc, yt / nt
        x.append((dt.date.fromisoformat(day) - start).days + 1)
        y.append(pt - pc)
        se.append(math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt))
    return x, y, se


# --------------------------------------------------------------------------- the statistics


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wls_slope_matches_statsmodels_fixed_scale(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = list(range(1, 13))
    se = list(rng.uniform(0.005, 0.03, size=12))
    y = list(0.04 - 0.003 * np.asarray(x) + rng.normal(0, se))
    slope, slope_se = wls_slope(x, y, se)
    want_slope, want_se, _ = _statsmodels(x, y, se)
    assert slope == pytest.approx(want_slope, rel=1e-10)
    assert slope_se == pytest.approx(want_se, rel=1e-10)


def test_lift_by_day_matches_recount_and_statsmodels() -> None:
    rng = random.Random(11)
    counts = []
    for d in range(8):
        day = (START + dt.timedelta(d)).isoformat()
        for arm, r in (("control", 0.2), ("treatment", 0.3 - 0.01 * d)):
            n = rng.randrange(300, 600)
            counts.append(DayCount(day, arm, n, sum(rng.random() < r for _ in range(n))))
    result = lift_by_day(counts, column="ts", control="control", treatment="treatment")
    assert result is not None
    x, y, se = [], [], []
    for d in range(8):
        c, t = counts[2 * d], counts[2 * d + 1]
        pc, pt = c.converted / c.users, t.converted / t.users
        x.append(d + 1)
        y.append(pt - pc)
        se.append(math.sqrt(pc * (1 - pc) / c.users + pt * (1 - pt) / t.users))
    assert [day.index for day in result.days] == x
    assert [day.lift for day in result.days] == pytest.approx(y, rel=1e-12)
    assert [day.se for day in result.days] == pytest.approx(se, rel=1e-12)
    want = _statsmodels(x, y, se)
    assert (result.slope, result.slope_se, result.p_value) == pytest.approx(want, rel=1e-9)


def test_one_day_gives_no_slope() -> None:
    counts = [
        DayCount("2024-05-01", "control", 100, 10),
        DayCount("2024-05-01", "treatment", 100, 15),
    ]
    result = lift_by_day(counts, column="ts", control="control", treatment="treatment")
    assert result is not None and len(result.days) == 1
    assert math.isnan(result.slope) and math.isnan(result.p_value)


# --------------------------------------------------------------------------- end to end


def _decaying_rates() -> list[float]:
    """Treatment 5 pp above a 10% control on day 1, shrinking linearly to 0 on day 10."""
    return [0.10 + 0.05 * (9 - d) / 9 for d in range(10)]


def test_decaying_lift_is_flagged_with_slope_and_p(tmp_path: Path) -> None:
    rows = _rows(_decaying_rates())
    analysis = _analyse(_write(tmp_path / "decay.csv", rows))
    x, y, se = _expected(rows)
    slope, slope_se, p = _statsmodels(x, y, se)
    assert slope < 0 and p < 0.05
    n = analysis.novelty
    assert n is not None and n.column == "exposure_time"
    assert (n.slope, n.slope_se, n.p_value) == pytest.approx((slope, slope_se, p), rel=1e-9)
    assert [d.index for d in n.days] == list(range(1, 11))
    (finding,) = [f for f in analysis.health.findings if f.code == "novelty"]
    assert finding.severity == "warning"
    assert finding.message.startswith("novelty: the lift decays across exposure days")
    assert f"slope −{abs(slope) * 100:.2f} pp/day" in finding.message
    assert (f"p = {p:.2g}" if p >= 0.0001 else "p < 0.0001") in finding.message
    memo = render_markdown(analysis)
    assert "Lift by exposure day" in memo
    assert "2024-05-10" in memo


def test_constant_lift_has_no_finding(tmp_path: Path) -> None:
    analysis = _analyse(_write(tmp_path / "flat.csv", _rows([0.15] * 10)))
    n = analysis.novelty
    assert n is not None and len(n.days) == 10
    assert n.p_value > 0.05
    assert not [f for f in analysis.health.findings if f.code == "novelty"]


def test_growing_lift_is_an_info_finding(tmp_path: Path) -> None:
    analysis = _analyse(_write(tmp_path / "grow.csv", _rows(_decaying_rates()[::-1])))
    (finding,) = [f for f in analysis.health.findings if f.code == "novelty"]
    assert finding.severity == "info"
    assert "grows" in finding.message


def test_days_with_too_few_users_per_arm_are_skipped_and_named(tmp_path: Path) -> None:
    rows = _rows(_decaying_rates())
    late = dt.datetime.combine(START + dt.timedelta(10), dt.time(9)).isoformat()
    rows += [("late1", "control", 0, late), ("late2", "control", 1, late)]
    rows += [("late3", "treatment", 1, late)]
    analysis = _analyse(_write(tmp_path / "skip.csv", rows))
    n = analysis.novelty
    assert n is not None and n.skipped == ("2024-05-11",)
    assert len(n.days) == 10
    x, y, se = _expected(rows)
    assert len(x) == 10
    assert (n.slope, n.slope_se, n.p_value) == pytest.approx(_statsmodels(x, y, se), rel=1e-9)
    (finding,) = [f for f in analysis.health.findings if f.code == "novelty"]
    assert "1 day(s) left out" in finding.message and "2024-05-11" in finding.message


def test_a_user_counts_on_the_day_of_their_first_row(tmp_path: Path) -> None:
    """Repeated user ids (the keyed path): each user once, on their earliest day, converted if
    any of their rows converted."""
    rng = random.Random(5)
    rows = []
    for u in range(1200):
        arm = "control" if u % 2 else "treatment"
        first = rng.randrange(6)
        for extra in range(rng.randrange(1, 4)):
            day = START + dt.timedelta(min(first + extra * rng.randrange(0, 3), 6))
            stamp = dt.datetime.combine(day, dt.time(rng.randrange(24))).isoformat()
            rows.append(
                (f"u{u}", arm, int(rng.random() < (0.2 if arm == "treatment" else 0.1)), stamp)
            )
    rng.shuffle(rows)
    analysis = _analyse(_write(tmp_path / "keyed.csv", rows))
    n = analysis.novelty
    assert n is not None
    counts = _recount(rows)
    got = {
        d.day: {
            "control": [d.control_users, d.control_converted],
            "treatment": [d.treatment_users, d.treatment_converted],
        }
        for d in n.days
    }
    assert got == {day: counts[day] for day in sorted(counts)}
    x, y, se = _expected(rows)
    assert (n.slope, n.slope_se, n.p_value) == pytest.approx(_statsmodels(x, y, se), rel=1e-9)


def test_no_date_column_no_section(tmp_path: Path) -> None:
    analysis = _analyse(_write(tmp_path / "plain.csv", _rows(_decaying_rates()), dated=False))
    assert analysis.novelty is None
    assert not [f for f in analysis.health.findings if f.code == "novelty"]
    assert "Lift by exposure day" not in render_markdown(analysis)


def test_novelty_round_trips_through_json(tmp_path: Path) -> None:
    analysis = _analyse(_write(tmp_path / "decay.csv", _rows(_decaying_rates())))
    back = analysis_from_dict(json.loads(json.dumps(analysis.to_dict(), allow_nan=False)))
    assert back.novelty == analysis.novelty
    assert back == analysis


# First 13 days of a public landing-page export (user_id, timestamp, group, page_design,
# subscribed; 476 rows): (control users, converted, treatment users, converted) per day.
SMALL_DAYS = [
    (13, 0, 9, 3), (19, 1, 23, 5), (12, 0, 21, 2), (12, 0, 16, 3), (23, 1, 22, 4),
    (16, 0, 9, 1), (18, 0, 20, 6), (15, 1, 12, 1), (12, 1, 18, 6), (18, 1, 16, 3),
    (18, 3, 14, 1), (17, 3, 18, 5), (14, 3, 9, 2),
]  # fmt: skip


def test_a_handful_of_users_a_day_is_not_tested_for_novelty() -> None:
    """With 9–23 users per arm a day and control days at 0 %, the Wald SEs made a 'significant'
    decay (p ≈ 0.03) out of noise; such days are left out and no finding is raised."""
    counts = []
    for d, (nc, yc, nt, yt) in enumerate(SMALL_DAYS):
        day = (START + dt.timedelta(d)).isoformat()
        counts += [DayCount(day, "control", nc, yc), DayCount(day, "treatment", nt, yt)]
    result = lift_by_day(counts, column="timestamp", control="control", treatment="treatment")
    assert result is not None
    assert result.days == () and len(result.skipped) == len(SMALL_DAYS)
    assert novelty_findings(result) == []
