"""The warehouse source against the CSV of the same table, at scale: same verdict, same figures.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/sql_equals_csv.py [--rows 10000000] [--repeated 0.01]

Writes ``sql_source_bench``'s user-level table (text ids ``u123``, two arms, 0/1 converted, a
long-tailed revenue with whales, pre_revenue, segment) as a CSV with DuckDB, COPYs the same file
into a PostgreSQL table of a scratch schema (dropped at the end), optionally repeats a share of its
rows in both (those users then have two rows of their variant), and analyses each: the CSV with
``analyse_file`` (DuckDB), the table with ``analyse_query`` (aggregated inside PostgreSQL). Prints
both verdicts, the primary's figures, and every number of the two analyses' JSON that differs by
more than 1e-9 (relative; the source's name, checksum and findings' wording are left out, as in
the tests). Not a test; CI never runs it.

Measured (10M rows, PostgreSQL 15, 2 shared CPUs): both Launch, 4,999,101 / 5,000,899 users,
lift +0.477191 pp [+0.439579, +0.514802], p 1.71e-136, and 0 numbers differing by more than 1e-9
— with one row per user (CSV 7.7 s, SQL 13.0 s in process) and with 1% of users on two rows
(11.6 s, 32.4 s).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from sql_source_bench import CREATE_SQL, GENERATE_SQL, libpq_url

from experimentos.config import load_thresholds
from experimentos.model import Options
from experimentos.usecases import analyse_file, analyse_query

SKIPPED = {"experiment", "health", "novelty"}


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for key in set(a) & set(b):
            if key not in SKIPPED:
                out += differences(a[key], b[key], f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        a, b = _by_arm(a), _by_arm(b)  # a query has no row order: arms are listed sorted
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{where}: {a!r} against {b!r}"]
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def _by_arm(items: list[Any]) -> list[Any]:
    if items and all(isinstance(i, dict) and "arm" in i for i in items):
        return sorted(items, key=lambda i: (str(i["arm"]), str(i.get("name", ""))))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeated", type=float, default=0.0)
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set TEST_DATABASE_URL to a PostgreSQL URL (a scratch database).")
    pq, schema = libpq_url(url), f"eq_{uuid.uuid4().hex[:8]}"
    table = f"{schema}.users"
    options, thresholds = Options(name="users"), load_thresholds()
    with (
        tempfile.TemporaryDirectory(prefix="sql-eq-") as tmp,
        psycopg.connect(pq, autocommit=True) as conn,
    ):
        path = Path(tmp) / "users.csv"
        with duckdb.connect() as db:
            db.execute("SELECT setseed(0.42)")
            db.execute(GENERATE_SQL.format(path=path), [args.rows])
            if args.repeated:
                db.execute(
                    f"COPY (SELECT * FROM read_csv('{path}') UNION ALL "
                    f"SELECT * FROM read_csv('{path}') WHERE hash(user_id) % 1000 < "
                    f"{round(args.repeated * 1000)}) TO '{path}.all' (HEADER, DELIMITER ',')"
                )
                Path(f"{path}.all").replace(path)
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(CREATE_SQL.format(table=table))
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)") as copy,
                path.open("rb") as f,
            ):
                while block := f.read(1 << 20):
                    copy.write(block)
            conn.execute(f"VACUUM ANALYZE {table}")
            started = time.perf_counter()
            from_csv = analyse_file(path, options=options, thresholds=thresholds)
            csv_s = time.perf_counter() - started
            started = time.perf_counter()
            from_sql = analyse_query(
                url.replace("+asyncpg", "+psycopg"),
                f"SELECT * FROM {table}",
                options=options,
                thresholds=thresholds,
                timeout_seconds=600,
            )
            sql_s = time.perf_counter() - started
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    found = differences(from_csv.to_dict(), from_sql.to_dict())
    print(f"{args.rows:,} rows, {args.repeated:.1%} of users repeated")
    for what, a, seconds in (("CSV", from_csv, csv_s), ("SQL", from_sql, sql_s)):
        [m] = a.primary
        c = m.comparison
        print(
            f"  {what}: {a.verdict.kind:8s} {m.control.n:,} / {m.treatment.n:,} users, "
            f"lift {c.abs_lift:+.6%} [{c.abs_ci[0]:+.6%}, {c.abs_ci[1]:+.6%}], p {c.p_value:.6g}"
            f"  ({seconds:.1f} s in process)"
        )
    print(f"  numbers that differ by more than 1e-9: {len(found)}")
    for line in found[:20]:
        print("   ", line)


if __name__ == "__main__":
    main()
