"""The warehouse reader on a real PostgreSQL (TEST_DATABASE_URL): the SQL path's Analysis equals
the user-level CSV path's on the same rows, only a few rows come back, and anything but one
read-only SELECT is refused in one line. Parquet files equal the CSV too (DuckDB, no server)."""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sql_frames import csv_and_duckdb

from experimentos.cli.commands import main
from experimentos.config import load_thresholds
from experimentos.ingest import sql_source, sql_table
from experimentos.ingest.sql_guard import QueryRefused
from experimentos.ingest.sql_source import SourceQueryError, run_query
from experimentos.model import Options, RatioSpec
from experimentos.usecases import analyse_file, analyse_parquet, analyse_query

URL = os.environ.get("TEST_DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not URL.startswith("postgres"),
    reason="TEST_DATABASE_URL names no PostgreSQL server: the SQL source is tested on a real one",
)
_SKIPPED = {"experiment", "health", "novelty"}
"""Where the source's name, checksum and findings' wording (no line numbers) differ."""


def _rows(kind: str, n: int = 3000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = ["control", "treatment", "treatment_b"] if "three" in kind else ["control", "treatment"]
    arm = rng.choice(arms, n)
    lift = np.where(arm == "treatment", 1.0, 0.0)
    df = pd.DataFrame({"user_id": np.arange(n), "variant": arm})
    df["converted"] = (rng.random(n) < 0.10 + 0.02 * lift).astype(int)
    pre = rng.gamma(2.0, 10.0, n)
    df["revenue"] = 0.8 * pre + rng.normal(2.0 * lift, 5.0, n)
    if kind in ("cuped", "all"):
        df["pre_revenue"] = pre
    if kind in ("ratio", "all"):
        df["clicks"] = rng.poisson(3 + lift, n)
        df["sessions"] = rng.poisson(6, n) + 1
    if kind in ("segments", "all", "crossed_outlier", "three_crossed"):
        df["segment"] = rng.choice(["ios", "web", "android"], n)
        df["guardrail_errors"] = rng.poisson(0.3, n)
    if kind in ("crossed", "all", "crossed_outlier", "three_crossed"):
        extra = df.sample(40, random_state=seed).copy()  # 20 repeated, 20 crossed
        extra.loc[extra.index[:20], "variant"] = np.where(
            extra.loc[extra.index[:20], "variant"] == "control", "treatment", "control"
        )
        df = pd.concat([df, extra], ignore_index=True)
    if kind in ("outlier", "crossed_outlier"):
        df.loc[5, "revenue"] = 1e6
    return df.sort_values(["variant", *(["segment"] if "segment" in df else [])], kind="stable")


def _assert_same(a: Any, b: Any, where: str = "analysis") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            if key not in _SKIPPED:
                _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture
def warehouse():
    """A schema of its own in the test database, dropped afterwards; yields (url, write)."""
    url = URL.replace("+asyncpg", "+psycopg")
    schema = f"exp_sql_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def write(df: pd.DataFrame, name: str = "results") -> str:
        df.to_sql(name, engine, schema=schema, index=False)
        return f"SELECT * FROM {schema}.{name}"

    try:
        yield url, write
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


CASES = {
    "proportion_and_mean": ("mean", Options()),
    "cuped": ("cuped", Options()),
    "ratio": ("ratio", Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),))),
    "segments_and_guardrail": ("segments", Options()),
    "units_in_several_variants": ("crossed", Options()),
    "outlier_cap": ("outlier", Options()),
    "everything": ("all", Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),))),
    "several_rows_per_unit_with_an_outlier": ("crossed_outlier", Options()),
    "three_arms_several_rows_per_unit": ("three_crossed", Options()),
}


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("case", list(CASES))
def test_sql_analysis_equals_csv_analysis(case: str, warehouse, tmp_path: Path) -> None:
    url, write = warehouse
    kind, options = CASES[case]
    df = _rows(kind)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    query = write(df)
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=options, thresholds=thresholds)
    from_sql = analyse_query(url, query, options=options, thresholds=thresholds)
    assert from_csv.primary, from_csv.health  # a real comparison, not two blocked analyses
    _assert_same(from_csv.to_dict(), from_sql.to_dict())
    csv_codes = sorted(f.code for f in from_csv.health.findings)
    assert sorted(f.code for f in from_sql.health.findings) == csv_codes


@needs_postgres
@pytest.mark.postgres
def test_only_a_few_rows_come_back(warehouse) -> None:
    url, write = warehouse
    df = _rows("all", n=20000)
    result = run_query(
        url,
        write(df),
        options=Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),)),
        thresholds=load_thresholds(),
    )
    groups = len(result.table.groups)
    assert groups == 2 * 3
    assert result.table.source.rows == len(df)
    # the 100-row type sample, then one summary row, one per group and two more
    assert result.rows_fetched <= 100 + groups + 4


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("DELETE FROM {t}", "not DELETE"),
        ("SELECT * FROM {t}; DROP TABLE {t}", "2 statements"),
        ("WITH d AS (DELETE FROM {t} RETURNING *) SELECT * FROM d", "holds DELETE"),
        ("SELECT * INTO copy_of_it FROM {t}", "SELECT … INTO"),
    ],
)
def test_writes_are_refused_in_one_line(query: str, said: str, warehouse, capsys) -> None:
    url, write = warehouse
    table = write(_rows("mean", n=200)).removeprefix("SELECT * FROM ")
    code = main(["analyze", "--source", url, "--query", query.format(t=table)])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(QueryRefused):
        run_query(url, query.format(t=table), options=Options(), thresholds=load_thresholds())
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # nothing was written
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 200
    engine.dispose()


@needs_postgres
@pytest.mark.postgres
def test_the_transaction_is_read_only(warehouse) -> None:
    url, write = warehouse
    table = write(_rows("mean", n=200)).removeprefix("SELECT * FROM ")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SEQUENCE {table}_seq"))
    engine.dispose()
    with pytest.raises(SourceQueryError, match="read-only transaction"):
        run_query(  # a SELECT that writes: nextval advances a sequence
            url,
            f"SELECT *, nextval('{table}_seq') AS n FROM {table}",
            options=Options(),
            thresholds=load_thresholds(),
        )


@needs_postgres
@pytest.mark.postgres
def test_a_statement_timeout_is_one_line_without_the_password(warehouse, capsys) -> None:
    url, write = warehouse
    query = write(_rows("mean", n=200))
    parsed = sa.make_url(url).set(password="s3cret-pw")
    secret = parsed.render_as_string(hide_password=False)
    slow = f"SELECT r.*, pg_sleep(0.05) AS pause FROM ({query}) r"
    code = main(["analyze", "--source", secret, "--query", slow, "--query-timeout", "0.2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "s3cret-pw" not in err and "***" in err
    assert "statement timeout" in err


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("repeated", [False, True], ids=["one_row_per_unit", "merged_per_unit"])
def test_text_unit_ids_are_compared_exactly_whatever_the_column_collation(
    repeated: bool, warehouse, tmp_path: Path
) -> None:
    """Unit ids in a column whose collation ignores case (a nondeterministic ICU collation):
    'u7' and 'U7' are two units, as in a CSV, not one unit seen in both variants."""
    url, write = warehouse
    df = _rows("crossed" if repeated else "mean")
    first = df.drop_duplicates("user_id")  # each unit's first row: its own arm
    rank = first.groupby("variant").cumcount()  # 0, 1, … within each arm
    case = first["variant"].map({"control": "u", "treatment": "U"})
    ids = dict(zip(first["user_id"], case + rank.astype(str), strict=True))
    df["user_id"] = df["user_id"].map(ids)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    query = write(df)
    table = query.removeprefix("SELECT * FROM ")
    schema = table.split(".")[0]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE COLLATION {schema}.nocase "
                "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
            )
        )
        conn.execute(
            sa.text(f"ALTER TABLE {table} ALTER COLUMN user_id TYPE text COLLATE {schema}.nocase")
        )
        same = conn.execute(sa.text(f"SELECT count(DISTINCT user_id) FROM {table}")).scalar()
    engine.dispose()
    assert same < df["user_id"].nunique()  # the column's own collation merges u7 and U7
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=Options(), thresholds=thresholds)
    from_sql = analyse_query(url, query, options=Options(), thresholds=thresholds)
    assert from_csv.primary
    _assert_same(from_csv.to_dict(), from_sql.to_dict())
    codes = sorted(f.code for f in from_csv.health.findings)
    assert sorted(f.code for f in from_sql.health.findings) == codes


@needs_postgres
@pytest.mark.postgres
def test_a_query_file_names_the_experiment(warehouse, tmp_path: Path, capsys) -> None:
    url, write = warehouse
    query_file = tmp_path / "checkout_v2.sql"
    query_file.write_text(write(_rows("mean", n=300)), encoding="utf-8")
    assert main(["analyze", "--source", url, "--query", str(query_file), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiment"]["name"] == "checkout_v2"
    query = query_file.read_text(encoding="utf-8")
    assert main(["analyze", "--source", url, "--query", query, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiment"]["name"] == sa.make_url(url).database


def test_an_unreachable_source_is_one_line(capsys) -> None:
    code = main(
        ["analyze", "--source", "postgresql://u:hunter2@127.0.0.1:1/x", "--query", "SELECT 1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "hunter2" not in err and "127.0.0.1:1" in err


def test_parquet_equals_csv(tmp_path: Path) -> None:
    df = _rows("all", n=2000)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    half = len(df) // 2
    for k, part in enumerate((df.iloc[:half], df.iloc[half:])):
        duckdb.from_df(part).write_parquet(str(tmp_path / f"part{k}.parquet"))
    options = Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),))
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=options, thresholds=thresholds)
    from_parquet = analyse_parquet(
        str(tmp_path / "*.parquet"), options=options, thresholds=thresholds
    )
    assert from_csv.primary
    _assert_same(from_csv.to_dict(), from_parquet.to_dict())
    # Named as a CSV is, without its extension; a pattern by its folder, not "*.parquet".
    assert from_csv.experiment.name == "results"
    assert from_parquet.experiment.name == tmp_path.name
    one = analyse_parquet(str(tmp_path / "part0.parquet"), options=options, thresholds=thresholds)
    assert one.experiment.name == "part0"


def test_hive_partitioned_parquet_equals_csv(tmp_path: Path) -> None:
    """Parquet written partitioned by variant (``variant=control/…``): the files hold no variant
    column, DuckDB reads it from the folder names, and the analysis is the CSV's."""
    df = _rows("all", n=2000)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    folder = tmp_path / "checkout"
    with duckdb.connect() as db:
        db.register("frame", df)
        db.execute(f"COPY frame TO '{folder}' (FORMAT parquet, PARTITION_BY (variant))")
    assert sorted(p.name for p in folder.iterdir()) == ["variant=control", "variant=treatment"]
    options = Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),))
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=options, thresholds=thresholds)
    from_parquet = analyse_parquet(
        str(folder / "*" / "*.parquet"), options=options, thresholds=thresholds
    )
    assert from_csv.primary and from_parquet.experiment.name == "checkout"
    _assert_same(from_csv.to_dict(), from_parquet.to_dict())


@needs_postgres
@pytest.mark.postgres
def test_a_query_without_the_default_primary_names_its_0_1_columns(warehouse) -> None:
    """As for a CSV: no 'converted' column is a Blocked finding that names the 0/1 columns the
    query returns, not a crash."""
    url, write = warehouse
    rows = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(400)],
            "variant": ["control", "treatment"] * 200,
            "subscribed": [int(i % 7 == 0) for i in range(400)],
        }
    )
    analysis = analyse_query(url, write(rows), options=Options(), thresholds=load_thresholds())
    assert analysis.health.status == "blocked"
    [finding] = [f for f in analysis.health.findings if f.code == "missing_primary"]
    assert "No 'converted' column" in finding.message and "subscribed" in finding.message


def _respelled(repeated: bool, n: int = 3000) -> pd.DataFrame:
    """Variant and segment labels written several ways ('Control', ' control', 'CONTROL'), and
    (``repeated``) some units on two rows under two spellings of one arm (merged: one unit)."""
    df = _rows("segments", n=n, seed=11)
    rng = np.random.default_rng(3)
    spell = {
        "control": ["control", "Control", " control ", "CONTROL"],
        "treatment": ["treatment", "Treatment "],
    }
    df["variant"] = [rng.choice(spell[v]) for v in df["variant"]]
    df["segment"] = [s.upper() if k % 3 == 0 else s for k, s in enumerate(df["segment"])]
    again = df.sample(30, random_state=5).copy()
    again["variant"] = [v.strip().upper() for v in again["variant"]]
    return pd.concat([df, again], ignore_index=True) if repeated else df


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("repeated", [True, False], ids=["merged_per_unit", "one_row_per_unit"])
@pytest.mark.parametrize("coded", [True, False], ids=["arm_codes", "labels_in_sql"])
def test_respelled_labels_equal_csv(
    coded: bool, repeated: bool, warehouse, tmp_path: Path, monkeypatch
) -> None:
    """Arms coded from the raw labels (a CASE per row) or, above MAX_CODED_LABELS raw labels,
    normalised in SQL: both equal the CSV path, with units merged across spellings of one arm
    (the per-unit merge) or each on one row (no merge)."""
    if not coded:
        monkeypatch.setattr(sql_table, "MAX_CODED_LABELS", 0)
    url, write = warehouse
    df = _respelled(repeated)
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    thresholds = load_thresholds()
    from_csv = analyse_file(csv, options=Options(), thresholds=thresholds)
    from_sql = analyse_query(url, write(df), options=Options(), thresholds=thresholds)
    assert from_csv.primary
    codes = sorted(f.code for f in from_csv.health.findings)
    assert ("repeated_user_rows" in codes) == repeated
    _assert_same(from_csv.to_dict(), from_sql.to_dict())
    assert sorted(f.code for f in from_sql.health.findings) == codes


@pytest.mark.parametrize("kind", ["all", "cuped"], ids=["merged_per_unit", "one_row_per_unit"])
def test_duckdb_file_equals_csv(kind: str, tmp_path: Path) -> None:
    options = Options(ratios=(RatioSpec("ctr", "clicks", "sessions"),))
    from_csv, from_db = csv_and_duckdb(_rows(kind, n=2000), tmp_path, options)
    assert from_csv.primary
    _assert_same(from_csv.to_dict(), from_db.to_dict())


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_csv_auto('{secret}', header = false)",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_parquet('{parquet}')",
        "SELECT * FROM glob('{dir}/*')",
        "SELECT r.*, (SELECT count(*) FROM read_csv('{secret}')) AS n FROM results r",
    ],
)
def test_a_duckdb_source_cannot_read_local_files(query: str, tmp_path: Path, capsys) -> None:
    """A duckdb:// source reads its database's tables, not the machine's files: one line."""
    secret = tmp_path / "secret.csv"
    secret.write_text("user_id,variant,converted\nroot-secret-row,control,1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    duckdb.from_df(_rows("mean", n=50)).write_parquet(str(outside / "x.parquet"))
    with duckdb.connect(str(tmp_path / "w.db")) as db:
        db.register("frame", _rows("mean", n=200))
        db.execute("CREATE TABLE results AS SELECT * FROM frame")
    text = query.format(secret=secret, parquet=outside / "x.parquet", dir=tmp_path)
    code = main(["analyze", "--source", f"duckdb:///{tmp_path / 'w.db'}", "--query", text])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1, captured.err
    assert "disabled by configuration" in captured.err and "Traceback" not in captured.err
    assert "root-secret-row" not in captured.out + captured.err


def test_parquet_outside_the_named_directory_stays_closed(tmp_path: Path) -> None:
    """The Parquet path reads the files its pattern names, and only under their directory."""
    named = tmp_path / "exports"
    named.mkdir()
    duckdb.from_df(_rows("mean", n=500)).write_parquet(str(named / "a.parquet"))
    assert sql_source._directory(str(named / "*.parquet")) == str(named)
    assert sql_source._directory(str(named / "a.parquet")) == str(named)
    assert sql_source._directory("exports/**/x.parquet") == str(Path.cwd() / "exports")
    analysis = analyse_parquet(
        str(named / "*.parquet"), options=Options(), thresholds=load_thresholds()
    )
    assert analysis.primary
    with pytest.raises(SourceQueryError, match="disabled by configuration"):
        sql_source.run_query(
            "duckdb:///:memory:",
            f"SELECT * FROM read_csv('{tmp_path / 'other.csv'}')",
            options=Options(),
            thresholds=load_thresholds(),
            readable=str(named),
        )


@pytest.mark.parametrize(
    ("query", "called"),
    [
        ("SELECT pg_read_file('/etc/passwd') AS user_id", "pg_read_file"),
        ("SELECT pg_catalog.pg_read_binary_file('/etc/passwd') AS x", "pg_read_binary_file"),
        ("SELECT * FROM pg_ls_dir('.') AS user_id", "pg_ls_dir"),
        ("SELECT lo_import('/etc/passwd') AS oid", "lo_import"),
        ("SELECT * FROM dblink('host=elsewhere', 'SELECT 1') AS t(a int)", "dblink"),
        ("SELECT t.* FROM t WHERE PG_STAT_FILE('x') IS NOT NULL", "pg_stat_file"),
    ],
)
def test_server_file_functions_are_refused_in_one_line(query: str, called: str, capsys) -> None:
    """Refused before any connection (the port below has no server)."""
    code = main(["analyze", "--source", "postgresql://u@127.0.0.1:1/x", "--query", query])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"calls {called}()" in err
    with pytest.raises(QueryRefused, match=called):
        run_query(
            "postgresql://u@127.0.0.1:1/x", query, options=Options(), thresholds=load_thresholds()
        )


def test_copy_is_refused_in_one_line(capsys) -> None:
    code = main(
        ["analyze", "--source", "postgresql://u@127.0.0.1:1/x", "--query", "COPY t TO '/tmp/x'"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not COPY" in err
