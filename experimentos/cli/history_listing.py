"""``experimentos history``: the experiments the bot recorded, newest first, with their verdicts.

Read-only: it never creates or upgrades the database; ``python -m experimentos.store upgrade``
does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from experimentos.store import (
    DEFAULT_DATABASE_URL,
    ExperimentSummary,
    StoreError,
    normalize_database_url,
    read_history,
    sqlite_file,
)
from experimentos.store.migrate import run_sync

VERDICT_LABELS = {"launch": "Launch", "hold": "Hold", "rollback": "Rollback"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``history`` to an argparse subparsers object; the command runs :func:`run`."""
    parser = subparsers.add_parser(
        "history",
        help="list recorded experiments with their latest verdict",
        description="List the experiments in the history store, newest first, with the latest "
        "verdict, the number of looks and the team's recorded decision.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="database URL (default: $DATABASE_URL, else %(default)s)",
    )
    parser.add_argument("--team", help="Slack team id (default: every team in the database)")
    parser.add_argument("--channel", help="only experiments of this Slack channel id")
    parser.add_argument("--search", metavar="TEXT", help="text in the name, hypothesis, owner…")
    parser.add_argument("--limit", type=_positive_int, default=20, help="at most N per team")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the history; 0 on success, 1 when the database cannot be read, 2 for a bad URL."""
    try:
        url = normalize_database_url(args.database_url)
    except ValueError as error:
        print(f"experimentos history: {error}", file=sys.stderr)
        return 2
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return _print(args.format, {}, note=f"No history yet: {path} does not exist.")
    try:
        by_team = run_sync(
            read_history(
                url,
                team_id=args.team,
                channel_id=args.channel,
                text=args.search,
                limit=args.limit,
            )
        )
    except StoreError as error:
        print(f"experimentos history: {error}", file=sys.stderr)
        return 1
    return _print(args.format, by_team, note="No experiments recorded yet.")


def _print(fmt: str, by_team: dict[str, list[ExperimentSummary]], *, note: str) -> int:
    summaries = [s for team in by_team.values() for s in team]
    if fmt == "json":
        print(json.dumps([s.to_dict() for s in summaries], indent=2, ensure_ascii=False))
        return 0
    if not summaries:
        print(note)
        return 0
    several_teams = len([t for t, items in by_team.items() if items]) > 1
    for team, items in by_team.items():
        if several_teams and items:
            print(f"Team {team}")
        for summary in items:
            print("\n".join(format_summary(summary)))
    return 0


def format_summary(summary: ExperimentSummary) -> list[str]:
    """Two to three lines: id, date, status, verdict, looks, name; reason; decision."""
    experiment, latest, decision = summary.experiment, summary.latest, summary.decision
    verdict = VERDICT_LABELS[latest.verdict_kind] if latest else "—"
    looks = f"{experiment.look_count} look{'s' if experiment.look_count != 1 else ''}"
    lines = [
        f"{experiment.ref:<8} {experiment.created_at:%Y-%m-%d}  {experiment.status:<9} "
        f"{verdict:<8} {looks:<8} {_one_line(experiment.name)}  (channel {experiment.channel_id})"
    ]
    indent = " " * 9
    if latest:
        lines.append(f"{indent}{_one_line(latest.verdict_reason)}")
    if decision:
        when = f"{decision.created_at:%Y-%m-%d}"
        text = f"{indent}Decision: {decision.decision} by {decision.user_id} on {when}"
        if decision.against_verdict:
            text += f", against the verdict ({VERDICT_LABELS[decision.bot_verdict or 'hold']})"
        if decision.reason:
            text += f": {_one_line(decision.reason)}"
        lines.append(text)
    if experiment.changed_after_first_look:
        fields = sorted({c.field for c in experiment.charter_changes})
        lines.append(f"{indent}Charter changed after the first look: {', '.join(fields)}")
    return lines


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="experimentos")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["history", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
