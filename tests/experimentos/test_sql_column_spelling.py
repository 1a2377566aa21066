"""A query's columns are read by their normalised names, as a CSV header is: ``"User ID"``,
``"Variant"`` or ``"Gross Sales"`` as the database spells them, named by options in any case."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from experimentos.config import load_thresholds
from experimentos.model import Options
from experimentos.usecases import analyse_file, analyse_query


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
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    with duckdb.connect(str(tmp_path / "w.db")) as db:
        db.register("frame", df)
        db.execute("CREATE TABLE results AS SELECT * FROM frame")
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=options, thresholds=thresholds)
    from_db = analyse_query(
        f"duckdb:///{tmp_path / 'w.db'}",
        "SELECT * FROM results",
        options=options,
        thresholds=thresholds,
    )
    assert from_csv.verdict.kind == from_db.verdict.kind
    [mine], [theirs] = from_db.primary, from_csv.primary
    assert (mine.control.n, mine.treatment.n) == (theirs.control.n, theirs.treatment.n)
    assert mine.comparison.p_value == pytest.approx(theirs.comparison.p_value, rel=1e-9)
    sales = {m.name: m for m in from_db.secondary}["gross sales"].comparison
    expected = df.groupby("Promotion")["Gross Sales"].mean()
    assert math.isclose(sales.abs_lift, expected["B"] - expected["A"], rel_tol=1e-9)
