"""Ratio metrics of user-level files (``--ratio aov=revenue/orders``): DuckDB's sums against the
same sums computed with pandas from the raw rows, on the one-pass and the keyed path, and the
analysis against an aggregated file of the same users."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.config import load_thresholds
from experimentos.errors import OptionError
from experimentos.model import ExperimentData, Options, RatioSpec
from experimentos.options import parse_message_options, parse_ratios

RATIOS = "aov = revenue / orders, clicks_per_visit = clicked / visits"


def users_csv(
    seed: int, *, users: int = 4000, repeats: int = 0, blanks: bool = False, blank: str = ""
) -> str:
    """Per user: orders 0–4 with revenue per order around 40 (42 in treatment), 0/1 clicks over
    1–6 visits. ``repeats`` users get a second row (merged by sum); ``blanks`` sets some
    revenue and clicked cells to ``blank``."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(users) < 0.5, "control", "treatment")
    orders = rng.poisson(1.2, users)
    price = np.where(arm == "control", 40.0, 42.0)
    revenue = np.round(orders * rng.gamma(8.0, price / 8.0), 2)
    visits = rng.integers(1, 7, users)
    frame = pd.DataFrame(
        {
            "user_id": np.arange(5000, 5000 + users),
            "variant": arm,
            "converted": (orders > 0).astype(int),
            "revenue": revenue.astype(str),
            "orders": orders,
            "clicked": (rng.random(users) < 0.3).astype(int).astype(str),
            "visits": visits,
        }
    )
    if blanks:
        frame.loc[frame.index % 29 == 0, "revenue"] = blank
        frame.loc[frame.index % 31 == 0, "clicked"] = blank
    if repeats:
        again = frame.sample(repeats, random_state=seed).assign(orders=1, revenue="10.0")
        frame = pd.concat([frame, again])
    return frame.to_csv(index=False)


def reference(text: str) -> dict[tuple[str, str], tuple[float, ...]]:
    """Per arm and ratio: users with both parts, Σx, Σx², Σy, Σy², Σxy — the obvious way."""
    frame = pd.read_csv(
        io.StringIO(text), dtype={"revenue": str, "clicked": str}, keep_default_na=False
    )
    # a blank number leaves the user out of the ratio; a blank 0/1 cell is a 0
    frame["revenue"] = pd.to_numeric(frame["revenue"], errors="coerce")
    frame["clicked"] = pd.to_numeric(frame["clicked"], errors="coerce").fillna(0)
    merged = frame.groupby("user_id").agg(
        variant=("variant", "first"),
        revenue=("revenue", lambda s: s.sum(min_count=1)),
        orders=("orders", "sum"),
        clicked=("clicked", "max"),
        visits=("visits", "sum"),
    )
    out = {}
    for arm, part in merged.groupby("variant"):
        for name, x, y in (("aov", "revenue", "orders"), ("clicks_per_visit", "clicked", "visits")):
            both = part[[x, y]].dropna()
            xs, ys = both[x].to_numpy(float), both[y].to_numpy(float)
            out[(arm, name)] = (
                len(both),
                xs.sum(),
                (xs**2).sum(),
                ys.sum(),
                (ys**2).sum(),
                (xs * ys).sum(),
            )
    return out


def read(text: str, **options: object) -> ExperimentData:
    opts = Options(ratios=parse_ratios(RATIOS), **options)  # type: ignore[arg-type]
    return ingest.parse(text.encode(), file_name="users.csv", options=opts)


@pytest.mark.parametrize(
    ("seed", "shape", "keyed"),
    [
        (1, {}, False),  # distinct ids: the one-pass path
        (2, {"blanks": True}, False),  # empty cells: NULL in a typed read
        # cells of white space: the 0/1 column is read as text in the first pass, which cannot
        # count its blanks as 0 for the ratio, so the keyed path reads it
        (3, {"blanks": True, "blank": " "}, True),
        (4, {"repeats": 25}, True),  # repeated users: rows merged by sum
        (5, {"repeats": 10, "blanks": True}, True),
    ],
)
def test_ratio_sums_match_pandas_on_every_path(
    seed: int, shape: dict, keyed: bool, keyed_calls: list[int]
) -> None:
    text = users_csv(seed, **shape)
    parsed = read(text)
    assert bool(keyed_calls) is keyed
    assert parsed.ratio_columns == ("aov", "clicks_per_visit")
    assert not [f for f in parsed.findings if f.code == "ratio_column"]
    expected = reference(text)
    for arm in parsed.arms:
        for name in parsed.ratio_columns:
            stats = arm.ratios[name]
            n, *sums = expected[(arm.arm, name)]
            assert stats.n == n
            got = (
                stats.num_total,
                stats.num_total_sq,
                stats.den_total,
                stats.den_total_sq,
                stats.cross_total,
            )
            assert got == pytest.approx(tuple(sums), rel=1e-12)


def test_user_level_and_aggregated_files_of_the_same_users_give_the_same_result() -> None:
    text = users_csv(5)
    thresholds = load_thresholds({})
    options = Options(ratios=parse_ratios("aov=revenue/orders"))
    user_level = analyze_data(read(text), options=options, thresholds=thresholds)
    sums = reference(text)
    frame = pd.read_csv(io.StringIO(text))
    rows = []
    for arm, part in frame.groupby("variant", sort=False):
        n, sx, sxx, sy, syy, sxy = sums[(arm, "aov")]
        rows.append(
            {
                "variant": arm,
                "users": len(part),
                "conversions": int(part["converted"].sum()),
                "aov_n": n,
                "aov_num_sum": sx,
                "aov_num_sum_sq": sxx,
                "aov_den_sum": sy,
                "aov_den_sum_sq": syy,
                "aov_num_den_sum": sxy,
            }
        )
    aggregated_csv = pd.DataFrame(rows).to_csv(index=False).encode()
    parsed = ingest.parse(aggregated_csv, file_name="agg.csv", options=Options())
    aggregated = analyze_data(parsed, options=Options(), thresholds=thresholds)
    (ours,) = [m for m in user_level.secondary if m.name == "aov"]
    (theirs,) = [m for m in aggregated.secondary if m.name == "aov"]
    assert ours.kind == theirs.kind == "ratio"
    assert ours.control.value == pytest.approx(theirs.control.value, rel=1e-12)
    assert ours.comparison.abs_ci == pytest.approx(theirs.comparison.abs_ci, rel=1e-9)
    assert ours.comparison.p_value == pytest.approx(theirs.comparison.p_value, rel=1e-9)
    # the data were drawn with revenue per order 40 vs 42: the estimate is near +2
    assert 0.5 < ours.comparison.abs_lift < 3.5


def test_a_ratio_with_a_missing_or_text_column_is_named_and_left_out() -> None:
    text = users_csv(6).replace("visits", "note", 1)
    lines = text.splitlines()
    lines = [lines[0]] + [row.rsplit(",", 1)[0] + ",n/a" for row in lines[1:]]
    text = "\n".join(lines) + "\n"
    parsed = ingest.parse(
        text.encode(),
        file_name="users.csv",
        options=Options(
            ratios=parse_ratios("aov=revenue/orders, cpv=clicked/visits, t=revenue/note")
        ),
    )
    assert parsed.ratio_columns == ("aov",)
    messages = {f.message for f in parsed.findings if f.code == "ratio_column"}
    assert messages == {
        "Ratio cpv (clicked / visits) is not analysed: the file has no 'visits' column.",
        "Ratio t (revenue / note) is not analysed: both of its columns must be numbers or 0/1 "
        "for every user.",
    }
    assert all(f.severity == "warning" for f in parsed.findings if f.code == "ratio_column")


def test_an_aggregated_file_says_where_its_ratios_come_from() -> None:
    data = b"variant,users,conversions\ncontrol,1000,100\ntreatment,1000,120\n"
    options = Options(ratios=parse_ratios("aov=revenue/orders"))
    parsed = ingest.parse(data, file_name="agg.csv", options=options)
    (finding,) = [f for f in parsed.findings if f.code == "ratio_column"]
    assert "aov_num_den_sum" in finding.message
    assert finding.severity == "warning"


def test_ratio_options_parse_from_flags_and_message_lines() -> None:
    assert parse_ratios("AOV = Revenue / Orders,cpv=clicked/visits") == (
        RatioSpec("aov", "revenue", "orders"),
        RatioSpec("cpv", "clicked", "visits"),
    )
    message = "Checkout test\nratio: aov = revenue / orders\nname: Checkout v2"
    assert parse_message_options(message).ratios == (RatioSpec("aov", "revenue", "orders"),)
    for bad in ("aov", "aov=revenue", "aov=revenue/revenue", "a=x/y, a=y/z"):
        with pytest.raises(OptionError):
            parse_ratios(bad)


def test_nan_free_results_on_a_ratio_whose_denominator_is_always_zero() -> None:
    text = "user_id,variant,converted,revenue,orders\n" + "".join(
        f"{i},{'control' if i % 2 else 'treatment'},0,0,0\n" for i in range(400)
    )
    parsed = ingest.parse(
        text.encode(), file_name="u.csv", options=Options(ratios=parse_ratios("aov=revenue/orders"))
    )
    analysis = analyze_data(parsed, options=Options(), thresholds=load_thresholds({}))
    (metric,) = [m for m in analysis.secondary if m.name == "aov"]
    assert math.isnan(metric.comparison.p_value)
    assert metric.notes == (
        "The denominator sums to 0 in the control arm: the ratio is undefined.",
    )
