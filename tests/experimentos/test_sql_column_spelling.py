"""A query's columns are read by their normalised names, as a CSV header is: ``"User ID"``,
``"Variant"`` or ``"Gross Sales"`` as the database spells them, named by options in any case."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sql_frames import csv_and_duckdb

from experimentos.model import Options


def _spelled(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["A", "B"], n)
    return pd.DataFrame(
        {
            "Store ID": np.arange(n),
            "Promotion": arm,
            "Converted": (rng.random(n) < np.where(arm == "B", 0.14, 0.10)).astype(int),
            "Gross Sales": rng.gamma(2.0, 50.0, n),
        }
    )


@pytest.mark.parametrize(
    "options",
    [
        Options(
            user_column="store id", variant_column="PROMOTION", primary="converted", control="a"
        ),
        Options(
            user_column="Store ID", variant_column="promotion", primary="converted", control="a"
        ),
    ],
    ids=["lower", "as_spelled"],
)
def test_mixed_case_columns_equal_the_csv(options: Options, tmp_path: Path) -> None:
    df = _spelled()
    from_csv, from_db = csv_and_duckdb(df, tmp_path, options)
    assert from_csv.verdict.kind == from_db.verdict.kind
    [mine], [theirs] = from_db.primary, from_csv.primary
    assert (mine.control.n, mine.treatment.n) == (theirs.control.n, theirs.treatment.n)
    assert mine.comparison.p_value == pytest.approx(theirs.comparison.p_value, rel=1e-9)
    sales = {m.name: m for m in from_db.secondary}["gross sales"].comparison
    expected = df.groupby("Promotion")["Gross Sales"].mean()
    assert math.isclose(sales.abs_lift, expected["B"] - expected["A"], rel_tol=1e-9)


def test_a_named_continuous_primary_and_the_untested_columns_equal_the_csv(
    tmp_path: Path,
) -> None:
    """Store-level rows as a marketing export has them: several weeks per store, a continuous
    primary named by the option, an id and a calendar column that are not outcomes."""
    rng = np.random.default_rng(5)
    stores = np.repeat(np.arange(300), 4)
    promotion = np.repeat(rng.choice([1, 2, 3], 300), 4)
    df = pd.DataFrame(
        {
            "MarketID": stores // 30,
            "LocationID": stores,
            "Promotion": promotion,
            "week": np.tile([1, 2, 3, 4], 300),
            "Gross Sales": rng.gamma(4.0, 50.0, len(stores)) + 8.0 * (promotion == 2),
        }
    )
    options = Options(
        user_column="locationid", variant_column="promotion", primary="gross sales", control="1"
    )
    from_csv, from_db = csv_and_duckdb(df, tmp_path, options, table="stores")
    assert len(from_db.primary) == len(from_csv.primary) == 2
    methods = {m.comparison.method for m in (*from_db.primary, *from_csv.primary)}
    assert methods == {"welch t-test"}  # a mean primary on both paths

    def untested(analysis):
        return [f.message for f in analysis.health.findings if f.code == "columns_not_tested"]

    assert untested(from_db) == untested(from_csv)
    assert untested(from_db) == [
        "2 columns not tested as metrics: marketid (identifier), week (calendar period)."
    ]
    per_store = df.groupby(["LocationID", "Promotion"])["Gross Sales"].sum().reset_index()
    means = per_store.groupby("Promotion")["Gross Sales"].mean()
    by_arm = {m.arm: m for m in from_db.primary}
    for arm in ("2", "3"):
        theirs = {m.arm: m for m in from_csv.primary}[arm].comparison
        mine = by_arm[arm].comparison
        assert math.isclose(mine.abs_lift, means[int(arm)] - means[1], rel_tol=1e-9)
        assert mine.abs_ci == pytest.approx(theirs.abs_ci, rel=1e-9)
        assert mine.p_value == pytest.approx(theirs.p_value, rel=1e-9)
