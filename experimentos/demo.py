"""``make demo``: the main job. Runs the Slack bot when Slack is configured; otherwise analyses
the bundled examples so a new user sees every verdict without a workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from experimentos.analysis import analyze
from experimentos.text_report import render

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> int:
    if os.environ.get("SLACK_BOT_TOKEN"):
        from runpy import run_module

        run_module("bot", run_name="__main__")
        return 0
    print("SLACK_BOT_TOKEN is not set: analysing the bundled examples instead.\n")
    for path in sorted(EXAMPLES.glob("*.csv")):
        analysis = analyze(path.read_bytes(), file_name=path.name)
        print(f"{path.name:<26} {analysis.verdict.label.upper():<8} {analysis.verdict.reason}")
    launch = EXAMPLES / "launch.csv"
    print("\nThe full report for examples/launch.csv:\n")
    print(render(analyze(launch.read_bytes(), file_name=launch.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
