"""The unit of analysis in user-level files, and assignment sanity.

A unit (user id, store) on several rows of one variant counts once: its rows summed (0/1 by max)
by default, or its first row only with ``repeated: first``. Every expectation is computed again
with pandas (``groupby(unit).sum()`` / ``.first()``) and tested with scipy and statsmodels, on
files shaped like the public exports: a store-promotion test with one row per store per week, and
the e-commerce landing-page test (user_id, timestamp, group, landing_page, converted) whose
landing_page disagrees with group on 1.3% of rows and whose users sometimes have two rows.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import test_proportions_2indep as two_proportions

from experimentos import analyze, ingest
from experimentos.cli.commands import main
from experimentos.errors import OptionError
from experimentos.model import Analysis, Finding
from experimentos.options import build_options, parse_message_options

# --------------------------------------------------------------------------- the files


def stores_csv(*, stores: int = 60, weeks: int = 4, seed: int = 3) -> str:
    """One row per store per week, as the store-promotion export: LocationID repeats."""
    rng = np.random.default_rng(seed)
    lines = ["MarketID,MarketSize,LocationID,AgeOfStore,Promotion,week,Gross Sales,hit"]
    for store in range(1, stores + 1):
        promotion = 1 + store % 2
        level = rng.normal(50.0 + 10.0 * promotion, 8.0)
        for week in range(1, weeks + 1):
            sales = round(level + rng.normal(0, 3.0), 2)
            hit = int(rng.random() < 0.3 + 0.1 * promotion)
            size = ("Small", "Medium", "Large")[store % 3]
            lines.append(f"{store % 7},{size},{store},{store % 9},{promotion},{week},{sales},{hit}")
    return "\n".join(lines) + "\n"


STORE_OPTIONS = {"user_column": "LocationID", "variant_column": "promotion", "primary": "hit"}


def landing_csv(*, seed: int = 7) -> str:
    """The landing-page export's shape: 2,900 users on one row, 39 on two rows of one group; 38
    of those second rows show the other group's page (3,893 and 3,894 in the 294k-row file)."""
    rng = np.random.default_rng(seed)
    page = {"control": "old_page", "treatment": "new_page"}
    other = {"control": "new_page", "treatment": "old_page"}
    rows, uid = [], 600_000
    for k in range(2_939):
        uid += int(rng.integers(1, 50))
        group = ("control", "treatment")[int(rng.integers(0, 2))]
        rows.append((uid, group, page[group], int(rng.random() < 0.12)))
        if k >= 2_900:  # the repeated users
            second = other[group] if k < 2_938 else page[group]
            rows.append((uid, group, second, int(rng.random() < 0.12)))
    order = rng.permutation(len(rows))
    start = pd.Timestamp("2017-01-02")
    lines = ["user_id,timestamp,group,landing_page,converted"]
    for n, i in enumerate(order):
        uid, group, landing, converted = rows[i]
        stamp = start + pd.Timedelta(seconds=int(200 * n))
        lines.append(f"{uid},{stamp},{group},{landing},{converted}")
    return "\n".join(lines) + "\n"


def analysed(text: str, **options: str) -> Analysis:
    return analyze(text.encode(), file_name="units.csv", options=build_options(**options))


def found(analysis: Analysis, code: str) -> list[Finding]:
    return [f for f in analysis.health.findings if f.code == code]


# --------------------------------------------------------------------------- stores × weeks


def test_store_weeks_are_summed_per_store_as_pandas_does() -> None:
    text = stores_csv()
    frame = pd.read_csv(io.StringIO(text))
    per_store = frame.groupby(["LocationID", "Promotion"])
    sums = per_store[["Gross Sales", "hit"]].sum().reset_index()
    anyhit = per_store["hit"].max().reset_index()
    analysis = analysed(text, **STORE_OPTIONS, control="1")

    [info] = found(analysis, "repeated_user_rows")
    assert info.severity == "info" and info.column == "locationid"
    assert "60 users appear on more than one row" in info.message
    assert "240 rows" in info.message and "sum of its rows" in info.message

    data = ingest.parse(
        text.encode(), file_name="units.csv", options=build_options(**STORE_OPTIONS)
    )
    arms = {a.arm: a for a in data.arms}
    for promotion in (1, 2):
        mine = arms[str(promotion)]
        theirs = sums[sums.Promotion == promotion]["Gross Sales"]
        assert mine.users == len(theirs) == 30
        assert mine.means["gross sales"].total == pytest.approx(theirs.sum(), rel=1e-12)
        assert mine.means["gross sales"].total_sq == pytest.approx((theirs**2).sum(), rel=1e-12)
        assert mine.conversions == anyhit[anyhit.Promotion == promotion]["hit"].sum()

    a, b = (sums[sums.Promotion == p]["Gross Sales"] for p in (2, 1))
    welch = stats.ttest_ind(a, b, equal_var=False)
    [sales] = [m for m in analysis.secondary if m.name == "gross sales"]
    assert sales.comparison.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    # counting each weekly row as a store would claim far more certainty than there is
    rows_a, rows_b = (frame[frame.Promotion == p]["Gross Sales"] for p in (2, 1))
    assert stats.ttest_ind(rows_a, rows_b, equal_var=False).pvalue < welch.pvalue / 100


def test_store_first_week_only_with_repeated_first() -> None:
    text = stores_csv()
    frame = pd.read_csv(io.StringIO(text))
    firsts = frame.groupby("LocationID").first()  # file order: there is no date column
    data = ingest.parse(
        text.encode(),
        file_name="units.csv",
        options=build_options(**STORE_OPTIONS, repeated="first"),
    )
    arms = {a.arm: a for a in data.arms}
    for promotion in (1, 2):
        theirs = firsts[firsts.Promotion == promotion]
        assert arms[str(promotion)].means["gross sales"].total == pytest.approx(
            theirs["Gross Sales"].sum(), rel=1e-12
        )
        assert arms[str(promotion)].conversions == theirs["hit"].sum()
    [info] = [f for f in data.findings if f.code == "repeated_user_rows"]
    assert "file order" in info.message and "180 later rows were left out" in info.message


def test_user_column_is_found_by_the_option_whatever_its_case(tmp_path: Path) -> None:
    """LocationID is no user-column alias: the file is refused as aggregated without the option,
    and read per store with it, written in any case."""
    text = stores_csv(stores=12)
    assert analysed(text).health.status == "blocked"
    for name in ("locationid", "LocationID", " LOCATIONID "):
        options = build_options(user_column=name, variant_column="Promotion", primary="hit")
        data = ingest.parse(text.encode(), file_name="units.csv", options=options)
        assert sum(a.users for a in data.arms) == 12, data.findings


# --------------------------------------------------------------------------- first exposure


FIRST_BY_TIME = """user_id,timestamp,variant,converted,revenue
1,2021-01-02 10:00:00,control,0,5
1,2021-01-01 10:00:00,control,1,7
2,2021-01-01 10:00:00,control,0,1
3,2021-01-01 10:00:00,treatment,1,2
3,2021-01-03 10:00:00,treatment,0,4
4,2021-01-01 10:00:00,treatment,0,3
5,2021-01-01 09:00:00,treatment,1,9
5,2021-01-01 08:00:00,control,0,9
"""


@pytest.mark.parametrize("rule", ["sum", "first"])
def test_repeated_rule_against_pandas(rule: str) -> None:
    frame = pd.read_csv(io.StringIO(FIRST_BY_TIME), parse_dates=["timestamp"])
    crossed = frame.groupby("user_id")["variant"].nunique() > 1
    kept = frame[~frame.user_id.isin(crossed[crossed].index)]
    if rule == "first":
        ordered = kept.sort_values(["timestamp"], kind="stable")
        units = ordered.groupby("user_id").first()
    else:
        units = kept.groupby("user_id").agg(
            variant=("variant", "first"), converted=("converted", "max"), revenue=("revenue", "sum")
        )
    options = build_options(repeated=rule)
    data = ingest.parse(FIRST_BY_TIME.encode(), file_name="units.csv", options=options)
    for arm in data.arms:
        theirs = units[units.variant == arm.arm]
        assert arm.users == len(theirs)
        assert arm.conversions == theirs.converted.sum()
        assert arm.means["revenue"].total == theirs.revenue.sum()
        assert arm.means["revenue"].total_sq == (theirs.revenue**2).sum()
    codes = {f.code: f for f in data.findings}
    assert "user_in_several_variants" in codes  # user 5 is left out under either rule
    if rule == "first":
        assert "earliest timestamp" in codes["repeated_user_rows"].message


# --------------------------------------------------------------------------- assignment sanity


def test_landing_page_disagreeing_rows_and_repeated_users() -> None:
    text = landing_csv()
    frame = pd.read_csv(io.StringIO(text))
    expected_page = frame.group.map({"control": "old_page", "treatment": "new_page"})
    disagreeing = int((frame.landing_page != expected_page).sum())
    repeated = int((frame.user_id.value_counts() > 1).sum())
    assert (disagreeing, repeated, len(frame)) == (38, 39, 2_978)

    analysis = analysed(text)
    [warning] = found(analysis, "assignment_mismatch")
    assert warning.severity == "warning" and warning.column == "landing_page"
    assert f"{disagreeing} of 2,978 rows ({disagreeing / len(frame):.2%})" in warning.message
    first_line = int(np.flatnonzero(frame.landing_page != expected_page)[0]) + 2
    assert warning.row == first_line
    [info] = found(analysis, "repeated_user_rows")
    assert info.message.startswith(f"{repeated} users appear on more than one row")
    assert f"{2 * repeated} rows" in info.message

    units = frame.groupby(["user_id", "group"])["converted"].max().reset_index()
    t, c = (units[units.group == g].converted for g in ("treatment", "control"))
    reference = two_proportions(t.sum(), len(t), c.sum(), len(c), method="wald", compare="diff")
    assert analysis.primary[0].comparison.p_value == pytest.approx(reference.pvalue, rel=1e-6)


def test_a_column_that_tracks_the_variant_exactly_says_nothing() -> None:
    """page_design = Design_A / Design_B with group on every row, as ab_data3.csv: no warning."""
    text = landing_csv()
    frame = pd.read_csv(io.StringIO(text))
    frame["landing_page"] = frame.group.map({"control": "Design_A", "treatment": "Design_B"})
    analysis = analysed(frame.to_csv(index=False))
    assert not found(analysis, "assignment_mismatch")


def test_a_column_that_does_not_track_the_variant_says_nothing() -> None:
    """A device column (two values, spread over both arms) is no record of the assignment."""
    text = landing_csv()
    frame = pd.read_csv(io.StringIO(text))
    frame["landing_page"] = np.where(np.arange(len(frame)) % 3 == 0, "mobile", "desktop")
    assert not found(analysed(frame.to_csv(index=False)), "assignment_mismatch")


# --------------------------------------------------------------------------- the option


def test_repeated_option_from_a_message_and_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_message_options("repeated: first").repeated == "first"
    assert parse_message_options("Repeated = First exposure").repeated == "first"
    assert parse_message_options("name: x").repeated == "sum"
    with pytest.raises(OptionError, match="repeated must be sum or first"):
        parse_message_options("repeated: mean")
    path = tmp_path / "units.csv"
    path.write_text(FIRST_BY_TIME)
    assert main(["analyze", str(path), "--repeated", "first"]) == 0
    assert "counted once by its first row" in capsys.readouterr().out
