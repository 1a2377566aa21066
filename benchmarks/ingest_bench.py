"""User-level ingest: ``experimentos analyze`` on a 10M-row file against DuckDB alone.

    .venv/bin/python benchmarks/ingest_bench.py [--rows 10000000] [--repeat 3]

Writes a user-level CSV (user_id, variant, converted, revenue, guardrail_errors) with DuckDB's COPY
in a temporary directory, then times, interleaved, in the same run:

(a) DuckDB alone: ``read_csv`` + ``GROUP BY variant`` computing the same sums (users, conversions,
    Σ revenue, Σ revenue², guardrail count), in this process on a fresh connection; and the same
    query as a fresh ``python -c 'import duckdb …'`` process, to show what a process start costs;
(b) the whole ``experimentos analyze FILE --format json`` command as a subprocess, with its peak
    RSS (ru_maxrss of the command's process tree, measured by a launcher process); and, to show
    where the time goes, the project's ingest alone in this process (``ingest.parse_path``:
    the DuckDB scan with its extra per-row work, and the SHA-256 alongside).

Then the same for a 90,000-row file (Cookie Cats sized), a 10M-row file with a segment column
(grouped by variant and segment) and, when present, the real Cookie Cats export. Goal: (b) within 1.1x of (a), peak RSS under 1.5 GB. Medians are printed; on a busy
machine compare CPU seconds too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from experimentos import ingest
from experimentos.model import Options

ROOT = Path(__file__).resolve().parent.parent
COOKIE_CATS = ROOT.parent / "shared" / "data" / "cookie_cats.csv"
GOAL_RATIO = 1.1
GOAL_RSS_MB = 1500

BASELINE_SQL = """
SELECT variant, count(*) AS users, sum(converted) AS conversions, sum(revenue) AS revenue,
       sum(revenue * revenue) AS revenue_sq, sum(guardrail_errors) AS errors
FROM read_csv(?) GROUP BY variant
"""


COOKIE_CATS_SQL = """
SELECT version, count(*) AS users, count_if(retention_7) AS retained_7,
       count_if(retention_1) AS retained_1, sum(sum_gamerounds) AS rounds,
       sum(sum_gamerounds * sum_gamerounds) AS rounds_sq
FROM read_csv(?) GROUP BY version
"""


SEGMENTED_SQL = BASELINE_SQL.replace("variant", "variant, segment")


def write_file(path: Path, rows: int, *, segments: bool = False) -> None:
    """Sorted integer ids, two arms, 10% converting with revenue, 2% guardrail events; with
    ``segments``, a third column: ios, android or web."""
    segment = (
        "CASE hash(i * 3) % 3 WHEN 0 THEN 'ios' WHEN 1 THEN 'android' ELSE 'web' END AS segment,"
        if segments
        else ""
    )
    con = duckdb.connect()
    con.execute(
        f"""COPY (
          SELECT 10000000 + i AS user_id,
                 CASE WHEN hash(i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant,
                 {segment}
                 CASE WHEN hash(i * 7) % 10 = 0 THEN 1 ELSE 0 END AS converted,
                 CASE WHEN hash(i * 7) % 10 = 0 THEN round((hash(i * 13) % 10000) / 100.0, 2)
                      ELSE 0 END AS revenue,
                 CASE WHEN hash(i * 11) % 50 = 0 THEN 1 ELSE 0 END AS guardrail_errors
          FROM range({int(rows)}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    con.close()


def baseline_in_process(path: Path, sql: str) -> tuple[float, float]:
    con = duckdb.connect()
    start, cpu = time.perf_counter(), time.process_time()
    con.execute(sql, [str(path)]).fetchall()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    con.close()
    return elapsed


def ingest_in_process(path: Path, options: Options) -> tuple[float, float]:
    """The project's ingest alone (DuckDB scan, SHA-256 alongside, aggregation): no process
    start, no imports, no statistics or rendering."""
    start, cpu = time.perf_counter(), time.process_time()
    ingest.parse_path(path, options=options)
    return time.perf_counter() - start, time.process_time() - cpu


_LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([code.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))
sys.stderr.write(code.stderr.decode())
"""


def run_child(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process.

    The child is started by a small launcher process: Linux carries a parent's peak RSS over
    fork and exec into the child's, so a child of this process (which has just run DuckDB) would
    report this process's peak, not its own.
    """
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True, check=False
    )
    status, wall, cpu, rss_kb = json.loads(launched.stdout)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status}):\n{launched.stderr}")
    return wall, cpu, rss_kb / 1024


def baseline_process(path: Path, sql: str) -> tuple[float, float, float]:
    code = f"import duckdb; duckdb.connect().execute({sql!r}, [{str(path)!r}]).fetchall()"
    return run_child([sys.executable, "-c", code])


def analyze_command(path: Path, *extra: str) -> tuple[float, float, float]:
    cli = [
        sys.executable,
        "-m",
        "experimentos.cli.commands",
        "analyze",
        str(path),
        "--format",
        "json",
    ]
    return run_child([*cli, *extra])


def compare(
    label: str,
    path: Path,
    repeat: int,
    *extra: str,
    sql: str = BASELINE_SQL,
    options: Options = Options(),
) -> None:
    size_mb = path.stat().st_size / 1e6
    runs: dict[str, list[tuple[float, ...]]] = {
        "duckdb": [],
        "duckdb process": [],
        "ingest": [],
        "analyze": [],
    }
    analyze_command(path, *extra)  # warm the page cache and .pyc files
    for _ in range(repeat):
        runs["duckdb"].append(baseline_in_process(path, sql))
        runs["duckdb process"].append(baseline_process(path, sql))
        runs["ingest"].append(ingest_in_process(path, options))
        runs["analyze"].append(analyze_command(path, *extra))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    rss = max(r[2] for r in runs["analyze"])
    print(f"\n{label}: {path.name}, {size_mb:.1f} MB, {repeat} runs, medians")
    print(
        f"  (a) duckdb read_csv + GROUP BY, in process   {wall['duckdb']:7.3f} s   cpu {cpu['duckdb']:6.3f} s"
    )
    print(
        f"      the same as a fresh python process      {wall['duckdb process']:7.3f} s   cpu {cpu['duckdb process']:6.3f} s"
    )
    print(
        f"  (b) experimentos analyze --format json       {wall['analyze']:7.3f} s   cpu {cpu['analyze']:6.3f} s"
    )
    print(
        f"      of which the ingest alone, in process    {wall['ingest']:7.3f} s   cpu {cpu['ingest']:6.3f} s"
    )
    ratio, ratio_process = (
        wall["analyze"] / wall["duckdb"],
        wall["analyze"] / wall["duckdb process"],
    )
    verdict = "ok" if ratio <= GOAL_RATIO else f"above the {GOAL_RATIO}x goal"
    print(
        f"  ratio (b)/(a) {ratio:.2f}x ({verdict}); against the fresh process {ratio_process:.2f}x"
    )
    print(f"  peak RSS of (b) {rss:.0f} MB (goal under {GOAL_RSS_MB} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as temp:
        big, small = Path(temp) / "users_10m.csv", Path(temp) / "users_90k.csv"
        segmented = Path(temp) / "users_10m_segments.csv"
        start = time.perf_counter()
        write_file(big, args.rows)
        write_file(small, 90_000)
        write_file(segmented, args.rows, segments=True)
        print(f"wrote the files in {time.perf_counter() - start:.1f} s")
        compare(f"{args.rows:,} rows", big, args.repeat)
        compare("90,000 rows", small, max(args.repeat, 5))
        compare(
            f"{args.rows:,} rows with a segment column", segmented, args.repeat, sql=SEGMENTED_SQL
        )
    if COOKIE_CATS.exists():
        flags = ("--control", "gate_30", "--primary", "retention_7")
        options = Options(control="gate_30", primary="retention_7")
        compare(
            "Cookie Cats",
            COOKIE_CATS,
            max(args.repeat, 5),
            *flags,
            sql=COOKIE_CATS_SQL,
            options=options,
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
