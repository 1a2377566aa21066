"""``make demo``: the main job. Runs the Slack bot when Slack is configured; otherwise analyses
the bundled examples so a new user sees every verdict without a workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from experimentos.cli.commands import main as cli_main
from experimentos.cli.record import analyze_and_record
from experimentos.config import load_thresholds
from experimentos.formatting import display_text
from experimentos.model import Options
from experimentos.report.text import render
from experimentos.store import DEFAULT_DATABASE_URL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def main() -> int:
    if os.environ.get("SLACK_BOT_TOKEN"):
        from runpy import run_module

        run_module("bot", run_name="__main__")
        return 0
    print("SLACK_BOT_TOKEN is not set: analysing the bundled examples instead, and keeping each")
    print(
        f"look in the history store ({os.environ.get('DATABASE_URL') or DEFAULT_DATABASE_URL}).\n"
    )
    thresholds = load_thresholds()
    reports = {}
    for path in sorted(EXAMPLES.glob("*.csv")):
        analysis, where = analyze_and_record(
            path,
            options=Options(),
            thresholds=thresholds,
            database_url=None,
        )
        reports[path.name] = analysis
        print(
            f"{path.name:<26} {analysis.verdict.label.upper():<8} {where:<22} {analysis.verdict.reason}"
        )
        for warning in analysis.warnings:  # e.g. peeking, from the second run on
            print(f"{'':<26} warning: {display_text(warning)}")
    print("\nThe full report for examples/launch.csv (this look, as recorded):\n")
    print(render(reports["launch.csv"]))
    print("The history (experimentos history):\n")
    return cli_main(["history"])


if __name__ == "__main__":
    sys.exit(main())
