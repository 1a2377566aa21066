"""Exact percentiles in bounded memory (``userlevel_queries.quantiles``): one scan keeps only the
values inside a window a sample points at, with the counts below it; a rank outside the window is
read again from every value's count. Checked against numpy's and pandas' linear quantile on real
DuckDB tables, with windows that hold the ranks, miss them on either side, or are absent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.duckdb_csv import connect
from experimentos.ingest.userlevel_queries import Relation

CAP_LEVEL = 0.999 * 100.0 / 100  # the outlier cap, as pandas hands it to numpy


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = connect(tmp_path)
    yield connection
    connection.close()


def _table(con: duckdb.DuckDBPyConnection, arms: dict[str, dict[int, np.ndarray]]) -> Relation:
    """Table ``users``: column ``a`` the arm, ``v{i}`` each column (NULL where an arm has fewer
    values of it than rows)."""
    columns = sorted({i for values in arms.values() for i in values})
    frames = []
    for arm, values in arms.items():
        rows = max(len(v) for v in values.values())
        frame = pd.DataFrame({"a": [arm] * rows})
        for i in columns:
            column = np.full(rows, np.nan)
            column[: len(values.get(i, []))] = values.get(i, [])
            frame[f"v{i}"] = column
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    con.register("frame", data)
    nulls = ", ".join(f"CASE WHEN isnan(v{i}) THEN NULL ELSE v{i} END AS v{i}" for i in columns)
    con.execute(f"CREATE OR REPLACE TABLE users AS SELECT a, {nulls} FROM frame")
    con.unregister("frame")
    return Relation("users", "true", ("a",))


def _numpy(values: np.ndarray, fractions: tuple[float, ...]) -> list[float]:
    return [float(np.quantile(values, f, method="linear")) for f in fractions]


def test_windows_that_hold_the_ranks_give_numpy_quantiles_in_one_scan(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rng = np.random.default_rng(11)
    values = {"c": rng.lognormal(3.0, 1.0, 20_000), "t": rng.gamma(2.0, 10.0, 17_001)}
    relation = _table(con, {arm: {3: v} for arm, v in values.items()})
    fractions = (0.5, 0.49, 0.51)
    requests = [(3, (arm,), fractions) for arm in values]
    windows = []
    for v in values.values():  # the window of the sampled fractions level ∓ 0.01
        low, high = np.quantile(v, [0.48, 0.52])
        windows.append((float(low), float(high)))
    spans = {(3, (arm,)): [w] for arm, w in zip(values, windows, strict=True)}
    asked = [fractions for _ in requests]
    found = q._order_statistics(con, relation, spans, requests, asked)
    assert all(f is not None for f in found)  # every rank inside its window: no second scan
    for v, got in zip(values.values(), found, strict=True):
        assert list(got) == _numpy(v, fractions)
    assert q.quantiles(con, relation, requests, windows) == [
        _numpy(v, fractions) for v in values.values()
    ]


@pytest.mark.parametrize(
    "window",
    [(50.0, 60.0), (0.0, 1.0), (20.0, 20.0), (-np.inf, np.inf), None],
    ids=["above-the-ranks", "below-the-ranks", "between-two-values", "everything", "none"],
)
def test_a_window_that_misses_is_read_again_and_gives_the_same_figures(
    con: duckdb.DuckDBPyConnection, window: tuple[float, float] | None
) -> None:
    rng = np.random.default_rng(5)
    values = np.round(rng.gamma(2.0, 10.0, 5_001), 3)  # ties, and a median near 17
    relation = _table(con, {"control": {1: values}})
    fractions = (0.0, 0.1, 0.5, 0.9, 1.0)
    requests = [(1, ("control",), fractions)]
    assert q.quantiles(con, relation, requests, [window]) == [_numpy(values, fractions)]


def test_an_arm_whose_values_are_mostly_one_value(con: duckdb.DuckDBPyConnection) -> None:
    """90% zeros, as revenue is for users who do not buy: the window is one value wide."""
    rng = np.random.default_rng(2)
    values = np.where(rng.random(40_000) < 0.9, 0.0, np.round(rng.uniform(0, 100, 40_000), 2))
    relation = _table(con, {"control": {2: values}})
    fractions = (0.5, 0.9, 0.8985, 0.9015)
    for window in [(0.0, 0.0), (0.0, 1.5), None]:
        got = q.quantiles(con, relation, [(2, ("control",), fractions)], [window])
        assert got == [_numpy(values, fractions)]


def test_arms_columns_and_every_arm_together_in_one_call(con: duckdb.DuckDBPyConnection) -> None:
    """An arm's entries and the all-arms entry of the outlier cap share rows: each row is
    counted in both; an arm with no value of a column gives Nones; fractions are clipped."""
    rng = np.random.default_rng(8)
    arms = {
        "a": {1: rng.normal(10, 3, 3000), 2: rng.exponential(5, 2500)},
        "b": {1: rng.normal(11, 3, 2800)},
        "B ": {1: rng.normal(11, 3, 300), 2: rng.exponential(6, 100)},  # the same arm as "b"
    }
    relation = _table(con, arms)
    b_values = {i: np.concatenate([arms["b"].get(i, []), arms["B "].get(i, [])]) for i in (1, 2)}
    every = {i: np.concatenate([arms[a].get(i, []) for a in arms]) for i in (1, 2)}
    requests = [
        (1, ("a",), (0.5, 0.9)),
        (2, ("a",), (0.5, -0.2, 1.3)),
        (1, ("b", "B "), (0.5, 0.9)),
        (2, ("b", "B "), (0.5,)),
        (1, ("a", "b", "B "), (CAP_LEVEL,)),
        (2, ("a", "b", "B "), (CAP_LEVEL,)),
        (2, ("nobody",), (0.5, 0.9)),
    ]
    windows = [(9.0, 11.0), (2.0, 4.0), None, (3.0, 5.0), (15.0, 40.0), (20.0, 60.0), None]
    got = q.quantiles(con, relation, requests, windows)
    assert got == [
        _numpy(arms["a"][1], (0.5, 0.9)),
        _numpy(arms["a"][2], (0.5, 0.0, 1.0)),
        _numpy(b_values[1], (0.5, 0.9)),
        _numpy(b_values[2], (0.5,)),
        [float(pd.Series(every[1]).quantile(0.999))],
        [float(pd.Series(every[2]).quantile(0.999))],
        [None, None],
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 999, 1000, 1001, 12_345, 60_000])
def test_the_outlier_cap_is_pandas_quantile_with_the_sampled_window(
    con: duckdb.DuckDBPyConnection, n: int
) -> None:
    rng = np.random.default_rng(n)
    values = rng.lognormal(2, 2, n)
    relation = _table(con, {"x": {4: values}})
    (sampled,) = q.sampled_windows(con, relation, [(4, ("x",))])
    assert len(sampled) == len(q.SAMPLED_FRACTIONS)
    window = (sampled[-2], sampled[-1])  # the cap's window: the last two sampled fractions
    (got,) = q.quantiles(con, relation, [(4, ("x",), (CAP_LEVEL,))], [window])
    assert got == [pd.Series(values).quantile(0.999)]


def test_the_sampled_windows_hold_the_ranks_of_a_large_arm(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """200,000 continuous values: the sample's windows (level ∓ 1%, the cap's) hold every rank
    asked, so one scan answers, keeping about 2% of the values."""
    rng = np.random.default_rng(21)
    values = rng.lognormal(1.0, 1.5, 200_000)
    relation = _table(con, {"x": {1: values}})
    (sampled,) = q.sampled_windows(con, relation, [(1, ("x",))])
    windows = [(sampled[2 * k], sampled[2 * k + 1]) for k in range(len(sampled) // 2)]
    fractions = [(0.5, 0.4978, 0.5022), (0.9, 0.8987, 0.9013), (CAP_LEVEL,)]
    requests = [(1, ("x",), f) for f in fractions]
    spans = {(1, ("x",)): windows}
    found = q._order_statistics(con, relation, spans, requests, fractions)
    assert [list(f) for f in found] == [_numpy(values, f) for f in fractions]


@pytest.mark.parametrize(
    "p90_window", [(10.0, 30.0), (10.0, 200.0)], ids=["apart", "overlapping-the-cap-window"]
)
def test_every_arm_together_is_counted_from_the_arms_in_the_same_scan(
    con: duckdb.DuckDBPyConnection, p90_window: tuple[float, float]
) -> None:
    """The outlier cap's entry (every arm) is not scanned again: the arms keep its window too
    and their counts add up to its own, ties and values on the window's edges included."""
    rng = np.random.default_rng(13)
    arms = {arm: np.round(rng.lognormal(2.0, 1.0, 30_000), 1) for arm in ("c", "t", "T")}
    relation = _table(con, {arm: {1: v} for arm, v in arms.items()})
    every = np.concatenate(list(arms.values()))
    cap_window = tuple(float(x) for x in np.quantile(every, [0.998, 0.9999]))
    requests: list = [
        (1, ("c",), (0.5, 0.9)),
        (1, ("t", "T"), (0.5, 0.9)),
        (1, ("c", "t", "T"), (CAP_LEVEL, 0.9985)),
    ]
    spans = {
        (1, ("c",)): [tuple(np.quantile(arms["c"], [0.48, 0.52])), p90_window],
        (1, ("t", "T")): [(5.0, 10.0), (15.0, 40.0)],
        (1, ("c", "t", "T")): [cap_window],
    }
    assert q._unions(list(spans), spans) == {2: (cap_window, [0, 1])}
    asked = [fractions for _, _, fractions in requests]
    found = q._order_statistics(con, relation, spans, requests, asked)
    both = np.concatenate([arms["t"], arms["T"]])
    assert [list(f) for f in found] == [
        _numpy(arms["c"], (0.5, 0.9)),
        _numpy(both, (0.5, 0.9)),
        _numpy(every, (CAP_LEVEL, 0.9985)),
    ]
