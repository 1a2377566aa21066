"""``experimentos analyze | power | history``: the analysis without Slack (SPEC §1.2).

Bad input ends in one paragraph on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from experimentos import power_args
from experimentos.cli import sources
from experimentos.config import load_thresholds
from experimentos.errors import ExperimentError
from experimentos.formatting import json_document, small_p
from experimentos.model import Analysis
from experimentos.options import build_options, parse_split
from experimentos.report import text as text_report
from experimentos.report.memo import render_html, render_markdown
from experimentos.stats.power import plan_sample_size
from experimentos.usecases import analyse_file

EXIT_BAD_INPUT = 2
EXIT_FAIL_ON = 3
EXIT_UNEXPECTED = 70
"""A bug (sysexits' EX_SOFTWARE): said in one line; ``EXPERIMENTOS_TRACEBACK=1`` shows where."""
TRACEBACK_VARIABLE = "EXPERIMENTOS_TRACEBACK"
"""``analyze --fail-on LEVEL``: the result is at or worse than LEVEL (the output is still written)."""
_SEVERITY = {"launch": 0, "hold": 1, "rollback": 2}
"""Verdicts from best to worst, for ``--fail-on hold|rollback``."""
FORMAT_PLUGINS = "experimentos.formats"
"""Entry-point group for more output formats (the Slack shell adds ``blocks`` this way)."""

Renderer = Callable[[Analysis], str]


def _formats() -> dict[str, Callable[[], Renderer]]:
    """Format name → its renderer, loaded on demand (a plugin may import a lot: the Slack shell)."""
    builtin: dict[str, Callable[[], Renderer]] = {
        "text": lambda: text_report.render,
        "md": lambda: render_markdown,
        "html": lambda: _render_html,
        "json": lambda: lambda a: json_document(a.to_dict()) + "\n",
    }
    for plugin in entry_points(group=FORMAT_PLUGINS):
        builtin.setdefault(plugin.name, plugin.load)
    return builtin


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The history store (SQLAlchemy, Alembic) takes longer to import than an analysis takes.
    parser = _parser(history=not argv or argv[0] not in ("analyze", "power"))
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ExperimentError as error:
        print(f"experimentos: {error.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as error:  # parameter validation in the statistics layer
        print(f"experimentos: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(
            f"experimentos: cannot read or write {error.filename}: {error.strerror}.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug, not the input: one line, the traceback on request
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        said = str(error).splitlines()[0][:200] if str(error) else ""
        print(
            f"experimentos: unexpected error ({type(error).__name__}{': ' + said if said else ''})"
            f" — this is a bug in experimentos; run again with {TRACEBACK_VARIABLE}=1 to see "
            "where, and report it.",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


def _parser(*, history: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="experimentos",
        description="Turn A/B-test results into a Launch / Hold / Rollback decision.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_analyze(commands)
    _add_power(commands)
    if not history:
        return parser
    try:
        from experimentos.cli import history_listing as cli_history
    except ImportError:  # the history store is optional at import time
        pass
    else:
        cli_history.add_parser(commands)
    from experimentos.cli import platform_listing

    platform_listing.add_parser(commands)
    return parser


def _add_analyze(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("analyze", help="analyse a results CSV and print the verdict")
    p.add_argument(
        "file",
        type=Path,
        nargs="?",
        help="results CSV (aggregated or user-level), or user-level Parquet files ('x/*.parquet')",
    )
    sources.add_arguments(p)
    p.add_argument("--name", help="experiment name (default: the file name)")
    p.add_argument("--split", help="expected split in file order, e.g. 50/50 or 60/40")
    p.add_argument("--control", help="label of the control arm when none is called 'control'")
    p.add_argument(
        "--primary",
        help="the primary metric: a 0/1 (or count) column, a numeric column (a mean, e.g. revenue) "
        "or a --ratio name",
    )
    p.add_argument("--guardrails", help="comma-separated guardrail columns (default guardrail_*)")
    p.add_argument("--higher-is-better", help="guardrails where a drop is the harm")
    p.add_argument("--variant-column", help="the column holding the arm label")
    p.add_argument("--user-column", help="the column holding the user id (user-level files)")
    p.add_argument(
        "--repeated",
        choices=("sum", "first"),
        help="a user-level file's repeated rows of one unit: sum them (default; 0/1 by max) or "
        "keep the first (by the date/timestamp column, else file order)",
    )
    p.add_argument("--correction", help="holm (default), bonferroni or bh")
    p.add_argument("--look", type=int, help="this look's number (sequential testing)")
    p.add_argument("--of", type=int, dest="of_looks", help="planned number of looks")
    p.add_argument(
        "--spending",
        choices=("obf", "pocock"),
        default="obf",
        help="Lan–DeMets spending function for the looks (default obf)",
    )
    p.add_argument(
        "--method",
        choices=("fixed", "always-valid", "group-sequential"),
        help="how the primary metric is tested: fixed horizon (default; group-sequential with "
        "--look/--of) or always-valid, safe to peek at any time",
    )
    p.add_argument(
        "--planned-users",
        help="total users the experiment plans to reach: tunes always-valid (default 5000)",
    )
    p.add_argument("--margins", help="non-inferiority margins, e.g. guardrail_checkout=1%%")
    p.add_argument(
        "--mde",
        help="planned minimum detectable effect of the primary, e.g. 0.5pp or '5%% relative': "
        "a Hold says how many more users it needs (default: the observed lift)",
    )
    p.add_argument(
        "--daily-users",
        help="users entering the experiment per day, all arms: a Hold says how many days to go",
    )
    p.add_argument(
        "--success",
        help="success metrics of the risk-aware rule, e.g. conversions,revenue (implies "
        "--rule risk-aware)",
    )
    p.add_argument(
        "--rule",
        choices=("default", "risk-aware"),
        help="decision rule: default (one primary) or risk-aware (Schultzberg et al. 2024: "
        "success metrics, Bonferroni; guardrails non-inferior against their margins)",
    )
    p.add_argument(
        "--metrics",
        help="exactly the secondary metric columns to test, e.g. revenue,clicks (default: every "
        "column that holds a metric; ids, dates, hours, weekdays and text never are)",
    )
    p.add_argument(
        "--ratio",
        help="ratio metrics of a user-level file, e.g. revenue_per_order=revenue/orders",
    )
    p.add_argument(
        "--fail-on",
        choices=("blocked", "hold", "rollback"),
        help=f"exit with code {EXIT_FAIL_ON} (after writing the output) when the result is at or "
        "worse than this level: rollback = a Rollback; hold = a Hold or a Rollback; blocked = "
        f"the data health is Blocked. Bad input exits {EXIT_BAD_INPUT}, anything else 0",
    )
    p.add_argument("--format", default="text", help="text, md, html, json, pdf (or a plugin's)")
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    p.add_argument("--chart", type=Path, help="also write the forest plot to this PNG file")
    p.add_argument(
        "--record",
        action="store_true",
        help="keep this look in the history store (DATABASE_URL, default SQLite)",
    )
    p.add_argument(
        "--database-url",
        help="history store URL (default $DATABASE_URL or sqlite+aiosqlite:///experimentos.db)",
    )
    p.set_defaults(run=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    formats = _formats()
    if args.format not in formats and args.format != "pdf":
        names = ", ".join([*formats, "pdf"])
        raise ExperimentError(f"unknown format {args.format!r}; use one of {names}.")
    if args.format == "pdf" and args.out is None:
        raise ExperimentError("--format pdf writes a binary file: add --out PATH.pdf.")
    options = build_options(
        name=args.name,
        split=args.split,
        control=args.control,
        primary=args.primary,
        guardrails=args.guardrails,
        higher_is_better=args.higher_is_better,
        correction=args.correction,
        look=args.look,
        of_looks=args.of_looks,
        spending=args.spending,
        method=args.method,
        planned_users=args.planned_users,
        mde=args.mde,
        daily_users=args.daily_users,
        margins=args.margins,
        success=args.success,
        rule=args.rule,
        metrics=args.metrics,
        ratios=args.ratio,
        variant_column=args.variant_column,
        user_column=args.user_column,
        repeated=args.repeated,
    )
    thresholds = load_thresholds()
    if args.source is not None or sources.is_parquet(args.file):
        analysis = sources.analyse_source(args, options=options, thresholds=thresholds)
    elif args.file is None:
        raise ExperimentError("give a results file, or --source URL --query FILE.sql.")
    elif args.record:
        from experimentos.cli.record import analyze_and_record

        analysis, where = analyze_and_record(
            args.file,
            options=options,
            thresholds=thresholds,
            database_url=args.database_url,
        )
        print(where, file=sys.stderr)
    else:
        # From the path: DuckDB reads a user-level file where it lies, never as Python bytes.
        analysis = analyse_file(args.file, options=options, thresholds=thresholds)
    if args.chart is not None:
        _write_chart(analysis, args.chart)
    if args.format == "pdf":
        _write_pdf(analysis, args.out)
    else:
        _emit(formats[args.format]()(analysis), args.out)
    return _exit_code(analysis, args.fail_on)


def _exit_code(analysis: Analysis, fail_on: str | None) -> int:
    """0, or EXIT_FAIL_ON when the result reaches the ``--fail-on`` level (a line on stderr says
    why, so a script's log shows what stopped it)."""
    if fail_on is None:
        return 0
    if fail_on == "blocked":
        reached = analysis.health.status == "blocked"
    else:
        reached = _SEVERITY[analysis.verdict.kind] >= _SEVERITY[fail_on]
    if not reached:
        return 0
    print(
        f"experimentos: --fail-on {fail_on}: the verdict is {analysis.verdict.label} "
        f"(health {analysis.health.status}); exit code {EXIT_FAIL_ON}.",
        file=sys.stderr,
    )
    return EXIT_FAIL_ON


def _render_html(analysis: Analysis) -> str:
    """The HTML memo, with the forest plot (and the lift by exposure day, when there is a date
    column) inline when matplotlib is installed."""
    try:
        from experimentos.report.charts import (
            data_uri,
            forest_data_uri,
            lift_by_day_alt_text,
            lift_by_day_png,
        )
    except ImportError:
        return render_html(analysis)
    figures = []
    if analysis.novelty is not None and analysis.novelty.days:
        uri = data_uri(lift_by_day_png(analysis.novelty))
        figures.append((lift_by_day_alt_text(analysis.novelty), uri))
    return render_html(
        analysis,
        chart_data_uri=forest_data_uri(analysis) if analysis.primary else None,
        figures=figures,
    )


def _write_pdf(analysis: Analysis, path: Path) -> None:
    from experimentos.report.pdf import render_pdf

    path.write_bytes(render_pdf(analysis))
    print(f"wrote {path}", file=sys.stderr)


def _write_chart(analysis: Analysis, path: Path) -> None:
    try:
        from experimentos.report.charts import forest_png
    except ImportError as error:
        raise ExperimentError(f"--chart needs matplotlib ({error}); install it first.") from error
    path.write_bytes(forest_png(analysis))
    print(f"wrote {path}", file=sys.stderr)


def _add_power(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "power",
        help="users needed to detect an effect",
        description="Users needed to detect an effect. Values are written as in Slack's "
        "/experiment power: --baseline 10%% or 0.10, --mde 1pp, 0.01 or 1%% (absolute), "
        "--mde 5%% --relative (a share of the baseline). A mean metric needs --sd and no "
        "baseline unless the MDE is relative.",
    )
    p.add_argument("--baseline", help="control rate (10%% or 0.10), or control mean with --sd")
    p.add_argument("--mde", required=True, help="minimum detectable effect: 1pp, 0.01, 1%%")
    p.add_argument("--relative", action="store_true", help="the MDE is relative to the baseline")
    p.add_argument("--alpha", default="0.05", help="two-sided α: 0.05 or 5%%")
    p.add_argument("--power", default="0.8", help="power: 0.8 or 80%%")
    p.add_argument("--variants", type=int, default=2, help="arms including control")
    p.add_argument("--split", help="shares per arm, control first, e.g. 50/50")
    p.add_argument("--daily-users", help="users entering the experiment per day, e.g. 20000 or 20k")
    p.add_argument("--sd", help="standard deviation: the metric is a mean")
    p.add_argument("--looks", type=int, help="planned looks (group-sequential design)")
    p.add_argument("--spending", choices=("obf", "pocock"), default="obf")
    p.add_argument(
        "--success-metrics",
        type=int,
        default=1,
        help="success metrics of the risk-aware rule: α is Bonferroni-corrected over them",
    )
    p.add_argument(
        "--guardrail-metrics",
        type=int,
        default=0,
        help="guardrails of the risk-aware rule: each test gets power 1 − β/(G + 1)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=_run_power)


def _run_power(args: argparse.Namespace) -> int:
    split = parse_split(args.split) if args.split else None
    variants = len(split) if split else args.variants
    sd = power_args.parse_positive("sd", args.sd) if args.sd is not None else None
    if args.baseline is None and (sd is None or args.relative):
        raise ExperimentError(
            "power needs --baseline: the control rate (10% or 0.10)"
            + (
                ", or the control mean for a relative MDE."
                if sd is not None
                else "; or --sd for a mean."
            )
        )
    daily = args.daily_users
    plan = plan_sample_size(
        baseline=None
        if args.baseline is None
        else power_args.parse_baseline(args.baseline, is_mean=sd is not None),
        mde=power_args.parse_power_mde(args.mde, relative=args.relative),
        relative=args.relative,
        alpha=power_args.parse_share("alpha", args.alpha),
        power=power_args.parse_share("power", args.power),
        variants=variants,
        split=split,
        daily_users=round(power_args.parse_positive("daily-users", daily)) if daily else None,
        sd=sd,
        looks=args.looks,
        spending=args.spending,
        success_metrics=args.success_metrics,
        guardrail_metrics=args.guardrail_metrics,
    )
    if args.format == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(text_report.render_power(plan), end="")
        if plan.success_metrics > 1 or plan.guardrail_metrics > 0:
            print(
                f"Sized for the risk-aware rule (Schultzberg et al. 2024): "
                f"{plan.success_metrics} success metric(s), α "
                f"{small_p(plan.alpha_per_comparison, digits=4)} per comparison; "
                f"{plan.guardrail_metrics} guardrail(s), power "
                f"{plan.power_per_test:.4g} per test so the decision keeps power {plan.power:g}."
            )
    return 0


def _emit(output: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(output)
        return
    out.write_text(output, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
