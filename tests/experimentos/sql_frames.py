"""One data frame analysed twice: as a CSV file, and as a table of a DuckDB database file read by
the warehouse source (``duckdb:///…``), for the tests that compare the two paths."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from experimentos.config import load_thresholds
from experimentos.model import Analysis, Options
from experimentos.usecases import analyse_file, analyse_query


def csv_and_duckdb(
    df: pd.DataFrame, folder: Path, options: Options, *, table: str = "results"
) -> tuple[Analysis, Analysis]:
    """The analyses of ``df`` written as ``{table}.csv`` and as ``SELECT * FROM {table}``."""
    csv = folder / f"{table}.csv"
    df.to_csv(csv, index=False)
    with duckdb.connect(str(folder / "w.db")) as db:
        db.register("frame", df)
        db.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=options, thresholds=thresholds)
    from_db = analyse_query(
        f"duckdb:///{folder / 'w.db'}",
        f"SELECT * FROM {table}",
        options=options,
        thresholds=thresholds,
    )
    return from_csv, from_db
