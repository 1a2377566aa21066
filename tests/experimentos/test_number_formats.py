"""Numbers written for people — ``"337,300.00"``, ``1.234,50``, ``15.2%`` — read where the
format is plain from the column, said once per column, and flagged where it is not.

Expectations come from pandas' own reader (``thousands=``/``decimal=``) and scipy's Welch test,
on files shaped like the store-promotion export (quoted thousands separators, one row per store
per week) and a ``;``-separated export with decimal commas.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experimentos import analyze, ingest
from experimentos.ingest.numbers import Ambiguous, NumberFormat, detect
from experimentos.model import Analysis, Finding
from experimentos.options import build_options


@pytest.mark.parametrize(
    ("cells", "delimiter", "expected"),
    [
        (["337,300.00", "1,000.5"], ",", NumberFormat(",", ".")),
        (["1,234", "5.5"], ";", NumberFormat(",", ".")),  # '.' decimals elsewhere: ',' groups
        (["12,50", "3"], ";", NumberFormat(".", ",")),
        (["1.234,50", "12"], ";", NumberFormat(".", ",")),
        (["15.2%", "3 %"], ",", NumberFormat("", ".", percent=True)),
        (["1,234", "5"], ",", NumberFormat(",", ".")),
        (["1,234", "5"], ";", Ambiguous("1,234", 0)),
        (["1", "2.5", ""], ";", None),
        (["1,2,3"], ";", None),
    ],
)
def test_the_format_of_a_column(cells: list[str], delimiter: str, expected: object) -> None:
    assert detect(cells, delimiter=delimiter) == expected


def test_cells_parse_as_pandas_reads_them() -> None:
    cells = ["1.234,50", "12,5", "-3", "1.000.000"]
    theirs = pd.read_csv(
        io.StringIO("x\n" + "\n".join(cells)), sep=";", thousands=".", decimal=","
    ).x
    fmt = NumberFormat(".", ",")
    assert [fmt.parse(c) for c in cells] == theirs.tolist()
    assert NumberFormat("", ".", percent=True).parse("15.2%") == pytest.approx(0.152)
    assert NumberFormat(",", ".").parse("12,50") is None


# --------------------------------------------------------------------------- user-level files


def stores_csv(*, stores: int = 60, weeks: int = 4, delimiter: str = ",", seed: int = 5) -> str:
    """The store-promotion export: one row per store per week, sales written for people."""
    rng = np.random.default_rng(seed)
    lines = [delimiter.join(["MarketID", "LocationID", "Promotion", "week", "Gross Sales"])]
    for store in range(1, stores + 1):
        promotion = 1 + store % 2
        level = rng.normal(40_000.0 + 6_000.0 * promotion, 9_000.0)
        for week in range(1, weeks + 1):
            sales = round(level + rng.normal(0, 2_000.0), 2)
            if delimiter == ",":
                cell = f'"{sales:,.2f}"'
            else:
                cell = f"{sales:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
            lines.append(
                delimiter.join([str(store % 7), str(store), str(promotion), str(week), cell])
            )
    return "\n".join(lines) + "\n"


OPTIONS = {"user_column": "LocationID", "variant_column": "promotion", "primary": "gross sales"}


def analysed(text: str, **options: str) -> Analysis:
    return analyze(text.encode(), file_name="stores.csv", options=build_options(**options))


def found(analysis: Analysis, code: str) -> list[Finding]:
    return [f for f in analysis.health.findings if f.code == code]


@pytest.mark.parametrize(
    ("delimiter", "read"),
    [(",", {"thousands": ","}), (";", {"thousands": ".", "decimal": ","})],
)
def test_store_sales_with_separators_are_read_and_tested(delimiter: str, read: dict) -> None:
    text = stores_csv(delimiter=delimiter)
    frame = pd.read_csv(io.StringIO(text), sep=delimiter, **read)
    assert frame["Gross Sales"].dtype == float
    sums = frame.groupby(["LocationID", "Promotion"])["Gross Sales"].sum().reset_index()
    analysis = analysed(text, **OPTIONS, control="1")

    [info] = found(analysis, "formatted_numbers")
    assert info.severity == "info" and info.column == "gross sales"
    assert "Read 240 cells of gross sales" in info.message and "e.g." in info.message
    [primary] = analysis.primary
    a, b = (sums[sums.Promotion == p]["Gross Sales"] for p in (2, 1))
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert primary.comparison.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    data = ingest.parse(text.encode(), file_name="s.csv", options=build_options(**OPTIONS))
    for arm in data.arms:
        theirs = sums[sums.Promotion == int(arm.arm)]["Gross Sales"]
        assert arm.means["gross sales"].total == pytest.approx(theirs.sum(), rel=1e-12)
        assert arm.means["gross sales"].total_sq == pytest.approx((theirs**2).sum(), rel=1e-12)


def test_ambiguous_separators_are_flagged_not_guessed() -> None:
    lines = ["user_id;variant;spend"]
    lines += [f"{k};{'ab'[k % 2]};{1 + k % 5},{k % 900 + 100:03d}" for k in range(40)]
    analysis = analysed("\n".join(lines) + "\n", primary="spend")
    [warning] = found(analysis, "ambiguous_number_format")
    assert warning.severity == "warning" and warning.column == "spend" and warning.row == 2
    assert "'1,100' (line 2) could be 1100 or 1.100" in warning.message
    assert analysis.health.status == "blocked"  # the primary is not read: no verdict on a guess


def test_cells_that_do_not_convert_are_counted_and_shown() -> None:
    lines = ["user_id,variant,converted,spend"]
    lines += [f'{k},{"ab"[k % 2]},{k % 3 == 0:d},"{k + 1:,}.50"' for k in range(1500)]
    lines[1400] = "1399,b,0,unknown"
    analysis = analysed("\n".join(lines) + "\n", control="a")
    [warning] = found(analysis, "unconverted_numbers")
    assert warning.column == "spend" and warning.row == 1401
    assert (
        "1 cell of spend is not" in warning.message and "'unknown' at line 1401" in warning.message
    )
    assert not found(analysis, "formatted_numbers")


# --------------------------------------------------------------------------- aggregated files


def test_aggregated_thousands_separators_are_said() -> None:
    text = 'variant,users,conversions\ncontrol,"10,234",1000\ntreatment,"10,250","1,130"\n'
    analysis = analyze(text.encode(), file_name="agg.csv", options=build_options())
    notes = found(analysis, "thousands_separators")
    assert {f.column for f in notes} == {"users", "conversions"}
    assert any("Read '10,234' as 10234 in column users (2 cells" in f.message for f in notes)
    data = ingest.parse(text.encode(), file_name="agg.csv", options=build_options())
    assert [(a.users, a.conversions) for a in data.arms] == [(10_234, 1000), (10_250, 1130)]


def test_aggregated_decimal_comma_count_is_refused() -> None:
    text = "variant;users;conversions\ncontrol;1234;12,50\ntreatment;1250;130\n"
    analysis = analyze(text.encode(), file_name="agg.csv", options=build_options())
    [blocked] = found(analysis, "decimal_comma_count")
    assert blocked.severity == "blocked" and blocked.row == 2 and blocked.column == "conversions"
    assert "'12,50', a number with a decimal comma (12.5)" in blocked.message


def test_aggregated_rate_is_still_refused() -> None:
    text = "variant,users,conversions\ncontrol,1000,15.2%\ntreatment,1000,16.1%\n"
    analysis = analyze(text.encode(), file_name="agg.csv", options=build_options())
    assert any("give counts, not rates" in f.message for f in analysis.health.findings)
    assert analysis.health.status == "blocked"
