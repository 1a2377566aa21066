"""Which columns are tested as metrics: identifiers, dates, times of day, weekdays, row numbers
and text never are (each said once, in one info finding); ``metrics`` names exactly the secondary
metrics; pandas' unnamed index column is left out, not Blocked. Files shaped like real exports:
the popup-ads export (user id, test group, converted, total ads, most ads day, most ads hour) and
a pandas ``to_csv`` with its index (/tmp/real/marketing_ab_steps.csv)."""

from __future__ import annotations

import numpy as np
import pytest

from experimentos import ingest
from experimentos.ingest.columns import not_a_metric
from experimentos.model import ExperimentData, Options
from experimentos.options import build_options, parse_message_options

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _popup(n: int = 400, *, index: bool = False) -> tuple[str, dict[str, np.ndarray]]:
    """A popup-ads export: the hour column differs by arm, as when the arms ran at other times."""
    rng = np.random.default_rng(7)
    arm = np.where(np.arange(n) % 2 == 0, "ad", "psa")
    converted = rng.random(n) < np.where(arm == "ad", 0.12, 0.08)
    ads = rng.poisson(20, n)
    hour = np.where(arm == "ad", rng.integers(10, 24, n), rng.integers(0, 14, n))
    day = rng.choice(DAYS, n)
    head = (
        "," if index else ""
    ) + "user id,test group,converted,total ads,most ads day,most ads hour"
    lines = [head]
    for i in range(n):
        row = f"{1_000_000 + i * 7},{arm[i]},{converted[i]},{ads[i]},{day[i]},{hour[i]}"
        lines.append((f"{i}," if index else "") + row)
    return "\n".join(lines) + "\n", {"arm": arm, "ads": ads, "converted": converted}


def _parse(text: str, **options: str) -> ExperimentData:
    return ingest.parse(
        text.encode(), file_name="popup.csv", options=build_options(control="psa", **options)
    )


def _info(data: ExperimentData) -> str:
    return " ".join(f.message for f in data.findings if f.code == "columns_not_tested")


def test_a_popup_export_tests_total_ads_and_never_the_hour_day_or_user_id() -> None:
    text, truth = _popup()
    data = _parse(text)
    assert not any(f.severity == "blocked" for f in data.findings)
    assert data.mean_columns == ("total ads",)
    assert "most ads hour" not in {*data.mean_columns, *data.secondary_count_columns}
    info = _info(data)
    assert "most ads hour (time of day)" in info and "most ads day (weekday)" in info
    # the one metric tested is the users' ads, summed as numpy sums them
    ads = {a.arm: a.means["total ads"] for a in data.arms}
    ad, psa = truth["ads"][truth["arm"] == "ad"], truth["ads"][truth["arm"] == "psa"]
    assert ads["ad"].n == len(ad) and ads["ad"].total == pytest.approx(ad.sum())
    assert ads["psa"].total_sq == pytest.approx((psa.astype(float) ** 2).sum())


def test_pandas_index_column_is_left_out_with_an_info_finding_not_blocked() -> None:
    text, _ = _popup(index=True)
    data = _parse(text)
    assert not any(f.severity == "blocked" for f in data.findings), data.findings
    assert "the first column (no name: the row index pandas writes)" in _info(data)
    assert data.mean_columns == ("total ads",)


def test_metrics_option_names_exactly_the_secondary_metrics() -> None:
    text, _ = _popup()
    data = _parse(text, metrics="most ads hour, nothing")
    assert data.mean_columns == ("most ads hour",)
    assert "total ads (not named in metrics)" in _info(data)
    (missing,) = [f for f in data.findings if f.code == "metric_not_found"]
    assert "nothing" in missing.message and missing.severity == "warning"


def test_metrics_line_of_a_slack_message_and_cli_flag_read_alike() -> None:
    assert parse_message_options("metrics: Revenue, time on page").metrics == (
        "revenue",
        "time on page",
    )
    assert build_options(metrics="revenue").metrics == ("revenue",)
    assert Options().metrics is None


def test_an_aggregated_file_says_which_columns_it_left_out() -> None:
    text = (
        "variant,users,conversions,date,hour,clicks,notes\n"
        "control,1000,100,2024-01-02,13,500,x\n"
        "treatment,1000,130,2024-01-02,14,540,y\n"
    )
    data = ingest.parse(text.encode(), file_name="agg.csv")
    assert data.secondary_count_columns == ("clicks",)
    assert _info(data) == (
        "3 columns not tested as metrics: date (date or timestamp), hour (time of day), "
        "notes (text)."
    )


@pytest.mark.parametrize(
    ("name", "cells", "why"),
    [
        ("hour", ["0", "5", "23"], "time of day"),
        ("most ads day", ["Monday", "Friday"], "weekday"),
        ("weekday", ["1", "6"], "weekday"),
        ("user id", ["1", "5"], "identifier"),
        ("locationid", ["1", "2"], "identifier"),
        ("timestamp", ["2021-01-05 00:31:25.931433"], "date or timestamp"),
        ("signup", ["2021-01-05", "2021-01-06"], "date or timestamp"),
        ("week", ["1", "2", "4"], "calendar period"),
        ("index", ["5", "9"], "row number"),
        ("revenue", ["1", "2", "3"], None),
        ("conversions", ["0", "1", "2"], None),
        ("paid", ["0", "1"], None),
        ("hours watched", ["30", "120"], None),
    ],
)
def test_not_a_metric_by_name_and_content(name: str, cells: list[str], why: str | None) -> None:
    assert not_a_metric(name, cells, position=1) == why


def test_a_first_column_counting_up_by_one_is_a_row_number_elsewhere_a_metric() -> None:
    counting = [str(i) for i in range(1, 31)]
    assert not_a_metric("seq", counting, position=0) == "row number"
    assert not_a_metric("revenue", counting, position=3) is None
