"""The first day an SRM appears, from a user-level file's date or timestamp column, and the daily
rate a Hold's days-to-go reads from the same column.

The expected days, counts and p-values are recounted here from the rows written (plain Python and
scipy's chi-square goodness of fit), not taken from the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

import pytest
from scipy import stats

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.config import load_thresholds
from experimentos.model import Analysis, Options
from experimentos.options import build_options

START = dt.date(2024, 3, 1)


def _rows(*, days: int, per_day: int, loss_from: int | None, seed: int) -> list[tuple]:
    """(user, arm, converted, timestamp): from ``loss_from`` on, a quarter of treatment's users
    are lost (never logged)."""
    rng = random.Random(seed)
    rows = []
    for d in range(days):
        for _ in range(per_day):
            arm = "control" if rng.random() < 0.5 else "treatment"
            lost = loss_from is not None and d >= loss_from and arm == "treatment"
            if lost and rng.random() < 0.25:
                continue
            stamp = dt.datetime.combine(START + dt.timedelta(d), dt.time(rng.randrange(24), 7))
            rows.append((f"u{len(rows)}", arm, int(rng.random() < 0.1), stamp.isoformat()))
    return rows


def _write(path: Path, rows: list[tuple], *, column: str = "exposure_time") -> Path:
    lines = [f"user_id,variant,converted,{column}"]
    lines += [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _analyse(path: Path, options: Options = Options()) -> Analysis:
    thresholds = load_thresholds()
    data = ingest.parse_path(path, options=options, thresholds=thresholds)
    return analyze_data(data, options=options, thresholds=thresholds)


def _cumulative(rows: list[tuple]) -> list[tuple[str, int, int, float]]:
    """(day, control, treatment, chi-square p against 50/50) of the users seen up to each day,
    each user at their earliest row."""
    first: dict[str, tuple[str, str]] = {}
    for user, arm, _, stamp in rows:
        day = stamp[:10]
        if user not in first or day < first[user][1]:
            first[user] = (arm, day)
    out, c, t = [], 0, 0
    for day in sorted({d for _, d in first.values()}):
        c += sum(1 for a, d in first.values() if d == day and a == "control")
        t += sum(1 for a, d in first.values() if d == day and a == "treatment")
        out.append((day, c, t, float(stats.chisquare([c, t]).pvalue)))
    return out


def test_the_srm_finding_names_the_first_day_the_cumulative_split_is_off(tmp_path):
    rows = _rows(days=12, per_day=500, loss_from=5, seed=3)
    analysis = _analyse(_write(tmp_path / "lost.csv", rows))
    srm = analysis.health.srm
    assert srm is not None and srm.p_value < 0.001

    expected = _cumulative(rows)
    first = next(row for row in expected if row[3] < 0.001)
    assert srm.first_day == first[0]
    assert first[0] >= (START + dt.timedelta(5)).isoformat()  # not before the loss began
    assert len(srm.by_day) == len(expected)
    for (day, counts, p), (e_day, c, t, e_p) in zip(srm.by_day, expected, strict=True):
        assert (day, dict(counts)) == (e_day, {"control": c, "treatment": t})
        assert p == pytest.approx(e_p, rel=1e-9, abs=1e-300)

    (finding,) = [f for f in analysis.health.findings if f.code == "srm_first_day"]
    assert f"on {first[0]}" in finding.message and "exposure_time" in finding.message
    day_number = [row[0] for row in expected].index(first[0]) + 1
    assert f"day {day_number} of 12" in finding.message
    assert f"control {first[1]:,} vs treatment {first[2]:,}" in finding.message
    assert analysis.verdict.rule == 2  # the finding informs; the SRM hold is unchanged


def test_a_user_on_several_rows_counts_on_the_day_of_their_first_row(tmp_path):
    rows = _rows(days=8, per_day=400, loss_from=3, seed=5)
    # the first 300 control users come back four days later: a second, later row
    again = [r for r in rows if r[1] == "control"][:300]
    later = [
        (u, a, c, (dt.datetime.fromisoformat(s) + dt.timedelta(days=4)).isoformat())
        for u, a, c, s in again
    ]
    every = rows + later
    analysis = _analyse(_write(tmp_path / "again.csv", every))
    srm = analysis.health.srm
    assert srm is not None
    expected = _cumulative(every)
    assert [(d, dict(c)) for d, c, _ in srm.by_day] == [
        (d, {"control": c, "treatment": t}) for d, c, t, _ in expected
    ]
    assert srm.first_day == next(row[0] for row in expected if row[3] < 0.001)


def test_a_balanced_file_or_one_without_dates_says_nothing_of_days(tmp_path):
    balanced = _analyse(
        _write(tmp_path / "ok.csv", _rows(days=6, per_day=300, loss_from=None, seed=1))
    )
    assert not any(f.code == "srm_first_day" for f in balanced.health.findings)
    undated = tmp_path / "undated.csv"
    rows = _rows(days=6, per_day=400, loss_from=2, seed=2)
    undated.write_text(
        "user_id,variant,converted\n" + "\n".join(f"{u},{a},{c}" for u, a, c, _ in rows) + "\n",
        encoding="utf-8",
    )
    analysis = _analyse(undated)
    assert analysis.health.srm is not None and analysis.health.srm.p_value < 0.001
    assert analysis.health.srm.first_day is None and analysis.health.srm.by_day == ()
    assert not any(f.code == "srm_first_day" for f in analysis.health.findings)


def test_a_hold_reads_its_daily_rate_from_the_dates_when_none_is_given(tmp_path):
    rows = _rows(days=7, per_day=600, loss_from=None, seed=11)
    path = _write(tmp_path / "dated.csv", rows, column="signup_date")
    analysis = _analyse(path, build_options(mde="1pp"))
    assert analysis.verdict.rule == 7
    text = analysis.verdict.next_actions[0]
    rate = len(rows) / 7
    assert (
        f"at {rate:,.0f} users a day (from the file's dates: {len(rows):,} users over 7 days)"
        in (text)
    )
    needed = analysis.verdict.sample_needed_per_arm
    have = min(sum(1 for r in rows if r[1] == arm) for arm in ("control", "treatment"))
    assert f"about {needed - have:,} more per arm" in text
    assert f"about {math.ceil((needed - have) / (rate / 2)):,} more days" in text

    given = _analyse(path, build_options(mde="1pp", daily_users="1000"))
    assert "at 1,000 users a day (as given)" in given.verdict.next_actions[0]
