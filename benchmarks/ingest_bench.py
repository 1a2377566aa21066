"""User-level ingest: ``experimentos analyze`` on a 10M-row file against DuckDB alone.

    .venv/bin/python benchmarks/ingest_bench.py [--rows 10000000] [--repeat 3] [--ids int,u123,uuid]
                                                [--only-ids] [--continuous]

Writes a user-level CSV (user_id, variant, converted, revenue, guardrail_errors) with DuckDB's COPY
in a temporary directory, once per kind of user id (``ID_KINDS``: integers, ``u123``, UUIDs — what
real exports carry), then times, interleaved, in the same run:

(a) DuckDB alone: ``read_csv`` + ``GROUP BY variant`` computing the same sums (users, conversions,
    Σ revenue, Σ revenue², guardrail count), in this process on a fresh connection; the same
    query as a fresh ``python -c 'import duckdb …'`` process, to show what a process start costs;
    and, as a fresh process, DuckDB doing the work the analysis must do whatever the ids
    (``SAME_WORK_SQL``: one row per user, users in several variants found, then per-variant sums);
(b) the whole ``experimentos analyze FILE --format json`` command as a subprocess, with its peak
    RSS (ru_maxrss of the command's process tree, measured by a launcher process); and, to show
    where the time goes, the project's ingest alone in this process (``ingest.parse_path``:
    the DuckDB scans, and the SHA-256 alongside).

Then (unless ``--only-ids``) the same for a 90,000-row file (Cookie Cats sized), a 10M-row file
with a segment column (grouped by variant and segment) and, when present, the real Cookie Cats
export. Goals: (b) within 1.3x of DuckDB's same work for string ids (stretch: 1.1x of (a)), peak
RSS under 1 GB and flat from 10M to 30M rows. Medians are printed; on a busy machine compare CPU
seconds too.

Figures, 10M rows, 2 CPUs shared with other jobs (load average 4-8, so wall times are inflated
and noisy; CPU seconds are the steadier measure). (b) before → after the text-id proof
(``userlevel_queries.distinct_text_ids``), the lazy scipy imports and one quantile aggregate per
arm:

    ids    (b) wall       (b) CPU        (b) peak RSS     same work (wall, CPU, RSS)  (b)/same work
    int    5.49 → 6.88 s  4.98 → 4.13 s   552 → 394 MB    5.8-9.4 s, 5.3 s, 1.9 GB    0.59 → 1.18
    u123   21.5 → 10.7 s  10.2 → 6.64 s  1171 → 630 MB   11.3-12.0 s, 5.8 s, 2.0 GB   1.79 → 0.94
    uuid   16.3 → 16.5 s  13.9 → 7.58 s  1230 → 731 MB   7.9-17.4 s, 6.0-8.0 s, 2.3 GB 2.07 → 0.95

(the int wall times are two runs at different loads: its path did not change except for the
cold start and the percentiles.) Against (a), DuckDB's plain read + GROUP BY variant (1.4-1.7 s
CPU), (b) is still 2.7x (int) to 4.5x (uuid) in CPU: the stretch goal is not met. What remains:
the first pass, the id-column scan that proves text ids distinct (a DISTINCT of 64-bit hashes)
and the percentiles' scan (exact median and p90 per arm) each read the whole file.

Peak RSS of one ``analyze`` at 10M → 30M rows, before the bounded percentiles: int 394 → 705 MB,
u123 657 → 833 MB, uuid 638 → 862 MB — under 1 GB but not flat: the exact percentiles held every
value of the metric (``quantile_cont``: 8 bytes a row, 367 → 660 MB for that query alone), the
first pass kept the largest 0.1% of each metric's values (for the outlier cap), and the
distinct-hash table of the text-id proof grew up to DuckDB's 1 GB limit before it spilled.

After (``userlevel_queries.quantiles``): the first pass samples each metric (a 50,000-value
reservoir) to guess a window around each percentile and around the outlier cap's p99.9; the
percentiles' scan keeps only the distinct values inside the windows with the counts below them,
and reads the exact order statistics from those counts (a rank outside its window, rare, is read
again from every value's count, which spills); the first pass keeps each metric's maximum only;
the text-id proof and the percentiles' scan run under a 256 MB DuckDB limit
(``EXPERIMENTOS_DUCKDB_SPILL_MEMORY``) and spill. Results equal (percentiles to the last bit of
numpy's interpolation). One ``analyze``, 2 CPUs shared (load 2.5-3), two interleaved runs before
and after at 10M, two after and one before at 30M; the files of this script (revenue 90% zeros)
and ``cont``, int ids with a continuous revenue (``--continuous``, every value distinct):

    ids    rows  peak RSS before → after   CPU before → after      wall before → after
    int    10M    393-398 → 308-331 MB     4.09-4.57 → 4.21-4.45 s  2.8-4.1 → 3.1-4.2 s
    int    30M        684 → 323 MB            11.3 → 10.6-11.0 s        14.8 → 10.7-10.9 s
    u123   10M    579-634 → 362-378 MB     6.59-7.17 → 6.03-6.16 s  6.2-6.6 → 4.4-5.2 s
    u123   30M        819 → 394-399 MB        18.1 → 17.0-17.3 s        16.8 → 10.5-15.9 s
    uuid   10M    698-703 → 378-379 MB     7.51-7.52 → 6.87-6.96 s  5.3-7.5 → 5.7-7.0 s
    uuid   30M        867 → 395-401 MB        20.4 → 20.0-20.5 s        18.8 → 15.8-19.1 s
    cont   10M    424-462 → 309-331 MB     4.68-4.76 → 4.73-4.75 s  4.7-4.8 → 4.7-4.7 s
    cont   30M        706 → 333-334 MB        13.0 → 12.5-12.7 s        13.0 → 6.8-8.6 s

Peak RSS is now flat from 10M to 30M (int +0-5%, u123 +4-10%, uuid +5-6%, cont +1-8%) and half
of the before at 30M; CPU is the same (int, cont) or 8-10% lower (text ids: the proof's
hash table spills rather than grows). DuckDB's same work on the 10M files took 5.0-5.2 s CPU
(u123) and 5.2-5.8 s (uuid), 2.1-2.4 GB: (b) is 1.2x its CPU; its wall times at this load
(2.8-5.5 s for DuckDB against 4.4-7.0 s) are too noisy for a wall ratio better than "1.0-1.6x".

On a quieter machine (load 2.5, nothing else running), ``--only-ids --ids u123,uuid --repeat 2``,
medians at 10M: u123 (b) 3.47 s (6.26 s CPU, 357 MB) against DuckDB's same work 3.03 s (5.63 s
CPU, 2.4 GB): 1.15x; uuid 4.14 s (7.29 s CPU, 380 MB) against 3.27 s (5.99 s CPU, 2.6 GB): 1.27x.
Both within the 1.3x goal; against DuckDB's plain read + GROUP BY variant 5.0x and 5.6x.
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
GOAL_RSS_MB = 1000
SAME_WORK_RATIO = 1.3

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

SAME_WORK_SQL = """
WITH per_user AS (
  SELECT user_id, min(variant) AS a, max(variant) AS z, max(converted) AS converted,
         sum(revenue) AS revenue, sum(guardrail_errors) AS errors
  FROM read_csv(?) GROUP BY user_id)
SELECT a, a <> z AS crossed, count(*) AS users, sum(converted) AS conversions,
       sum(revenue) AS revenue, sum(revenue * revenue) AS revenue_sq, sum(errors) AS errors
FROM per_user GROUP BY a, crossed
"""
"""DuckDB doing the work the analysis must do whatever the ids: one row per user (users in several
variants found, a user's rows merged), then per-variant sums."""

ID_KINDS = {
    "int": "10000000 + i",
    "u123": "'u' || i",
    "uuid": "(SELECT m[1:8] || '-' || m[9:12] || '-' || m[13:16] || '-' || m[17:20] || '-' "
    "|| m[21:32] FROM (SELECT md5(i::VARCHAR) AS m))",
}
"""User ids as exports carry them: integers, a prefix and a number, UUIDs (hex of an MD5)."""


def write_file(
    path: Path, rows: int, *, segments: bool = False, ids: str = "int", continuous: bool = False
) -> None:
    """Sorted ids of kind ``ids`` (``ID_KINDS``), two arms, 10% converting with revenue, 2%
    guardrail events; with ``segments``, a third column: ios, android or web; with
    ``continuous``, every user has a revenue, exp(3u + 2v) (u, v uniform), all distinct."""
    segment = (
        "CASE hash(i * 3) % 3 WHEN 0 THEN 'ios' WHEN 1 THEN 'android' ELSE 'web' END AS segment,"
        if segments
        else ""
    )
    revenue = (
        "exp(3 * random() + 2 * random())"
        if continuous
        else "CASE WHEN hash(i * 7) % 10 = 0 THEN round((hash(i * 13) % 10000) / 100.0, 2) "
        "ELSE 0 END"
    )
    con = duckdb.connect()
    con.execute(
        f"""COPY (
          SELECT {ID_KINDS[ids]} AS user_id,
                 CASE WHEN hash(i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant,
                 {segment}
                 CASE WHEN hash(i * 7) % 10 = 0 THEN 1 ELSE 0 END AS converted,
                 {revenue} AS revenue,
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
    same_work: bool = False,
) -> None:
    """Interleaved runs, medians. With ``same_work``, DuckDB's per-user query (``SAME_WORK_SQL``)
    as a fresh process too: the goal for string ids is (b) within 1.3x of it."""
    size_mb = path.stat().st_size / 1e6
    runs: dict[str, list[tuple[float, ...]]] = {
        "duckdb": [],
        "duckdb process": [],
        "same work process": [],
        "ingest": [],
        "analyze": [],
    }
    analyze_command(path, *extra)  # warm the page cache and .pyc files
    for _ in range(repeat):
        runs["duckdb"].append(baseline_in_process(path, sql))
        runs["duckdb process"].append(baseline_process(path, sql))
        if same_work:
            runs["same work process"].append(baseline_process(path, SAME_WORK_SQL))
        runs["ingest"].append(ingest_in_process(path, options))
        runs["analyze"].append(analyze_command(path, *extra))
    runs = {k: v for k, v in runs.items() if v}
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    peak = {k: max(r[2] for r in v) for k, v in runs.items() if len(v[0]) > 2}
    rss = peak["analyze"]
    print(f"\n{label}: {path.name}, {size_mb:.1f} MB, {repeat} runs, medians")

    def line(text: str, key: str) -> None:
        memory = f"   peak RSS {peak[key]:5.0f} MB" if key in peak else ""
        print(f"  {text:45s}{wall[key]:7.3f} s   cpu {cpu[key]:6.3f} s{memory}")

    line("(a) duckdb read_csv + GROUP BY, in process", "duckdb")
    line("    the same as a fresh python process", "duckdb process")
    if same_work:
        line("    per user, then per variant (same work)", "same work process")
    line("(b) experimentos analyze --format json", "analyze")
    line("    of which the ingest alone, in process", "ingest")
    ratio, ratio_process = (
        wall["analyze"] / wall["duckdb"],
        wall["analyze"] / wall["duckdb process"],
    )
    verdict = "ok" if ratio <= GOAL_RATIO else f"above the {GOAL_RATIO}x goal"
    print(
        f"  ratio (b)/(a) {ratio:.2f}x ({verdict}); against the fresh process {ratio_process:.2f}x"
    )
    if same_work:
        same = wall["analyze"] / wall["same work process"]
        verdict = "ok" if same <= SAME_WORK_RATIO else f"above the {SAME_WORK_RATIO}x goal"
        print(f"  ratio (b)/same work {same:.2f}x ({verdict})")
    print(f"  peak RSS of (b) {rss:.0f} MB (goal under {GOAL_RSS_MB} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--ids",
        default=",".join(ID_KINDS),
        help="id kinds of the big files, comma-separated (int, u123, uuid)",
    )
    parser.add_argument(
        "--only-ids", action="store_true", help="only the big files, one per id kind"
    )
    parser.add_argument(
        "--continuous",
        action="store_true",
        help="the big files' revenue continuous (every value distinct), not 90%% zeros",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as temp:
        for kind in args.ids.split(","):
            path = Path(temp) / f"users_{kind}.csv"
            start = time.perf_counter()
            write_file(path, args.rows, ids=kind, continuous=args.continuous)
            print(f"\nwrote {path.name} in {time.perf_counter() - start:.1f} s")
            compare(f"{args.rows:,} rows, {kind} ids", path, args.repeat, same_work=True)
            path.unlink()
        if args.only_ids:
            return
        small, segmented = Path(temp) / "users_90k.csv", Path(temp) / "users_10m_segments.csv"
        write_file(small, 90_000)
        write_file(segmented, args.rows, segments=True)
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
