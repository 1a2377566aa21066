"""``analyze --source URL --query FILE.sql`` and ``analyze 'exports/*.parquet'``: sources the
user-level machinery reads in a database (the warehouse, or DuckDB over Parquet files); and
``analyze --source growthbook:EXP_KEY`` (``statsig:``, ``hackle:``): an experimentation
platform's results, the API key from the environment."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from experimentos.analysis.look_plan import source_stem
from experimentos.errors import ExperimentError
from experimentos.model import Analysis, Options, Thresholds
from experimentos.platforms import PLATFORMS
from experimentos.usecases import analyse_parquet, analyse_platform, analyse_query


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        help="database URL of a warehouse (postgresql://user@host/db or duckdb:///file.db): "
        "run --query there, read-only; or a platform experiment: growthbook:EXP_KEY, "
        "statsig:EXP_ID, hackle:EXP_KEY (key in GROWTHBOOK_API_KEY, STATSIG_CONSOLE_KEY, "
        "HACKLE_ADMIN_KEY)",
    )
    p.add_argument("--query", help="with --source: a .sql file or the SELECT itself")
    p.add_argument(
        "--query-timeout",
        type=float,
        default=None,
        help="with --source: statement timeout in seconds (default 60)",
    )
    p.add_argument("--phase", type=int, help="with --source growthbook:…: the phase (default last)")
    p.add_argument(
        "--dimension", help="with --source growthbook:…: a dimension id (results per value)"
    )
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="with --source growthbook:…: run a fresh analysis in GrowthBook first and wait",
    )
    p.add_argument(
        "--results",
        type=Path,
        help="with --source hackle:…: the experiment's results table exported as CSV "
        "(Hackle has no results API)",
    )


def is_platform(source: str | None) -> bool:
    return source is not None and source.partition(":")[0].strip().lower() in PLATFORMS


def is_parquet(file: Path | None) -> bool:
    return file is not None and str(file).casefold().endswith(".parquet")


def analyse_source(
    args: argparse.Namespace, *, options: Options, thresholds: Thresholds
) -> Analysis:
    """The Analysis of ``--source``/``--query``, or of Parquet files; bad arguments raise
    ExperimentError."""
    if args.record:
        raise ExperimentError("--record keeps looks at CSV files; drop --record for this source.")
    if args.source is None:
        return analyse_parquet(str(args.file), options=options, thresholds=thresholds)
    if is_platform(args.source):
        if args.file is not None or args.query:
            raise ExperimentError(f"--source {args.source} takes no file and no --query.")
        return analyse_platform(
            args.source,
            options=options,
            thresholds=thresholds,
            phase=args.phase,
            dimension=args.dimension,
            snapshot=args.snapshot,
            results_file=args.results,
        )
    if args.file is not None or not args.query:
        raise ExperimentError("--source takes --query (a .sql file or a SELECT) and no file.")
    query = args.query
    if query.strip().casefold().endswith(".sql"):
        path = Path(query.strip())
        try:
            query = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ExperimentError(f"cannot read the query file {path}: {error}.") from None
        options = dataclasses.replace(options, name=options.name or source_stem(path.name))
    if args.query_timeout is not None and args.query_timeout <= 0:
        raise ExperimentError("--query-timeout must be a positive number of seconds.")
    return analyse_query(
        args.source,
        query,
        options=options,
        thresholds=thresholds,
        timeout_seconds=args.query_timeout,
    )
