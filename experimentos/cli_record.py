"""``experimentos analyze --record``: analyse and keep the look in the history store.

Command-line analyses live under the team ``local`` and channel ``cli``; an experiment is found
again by its name, so analysing the same experiment twice is its second look (and is flagged as
peeking when no looks were planned).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from experimentos import ingest
from experimentos.analysis import analyze_data
from experimentos.model import Analysis, Options, Thresholds
from experimentos.store import HistoryStore, fields_from_analysis
from experimentos.store.migrate import run_sync

CLI_TEAM = "local"
CLI_CHANNEL = "cli"


def analyze_and_record(
    path: Path,
    *,
    options: Options,
    thresholds: Thresholds,
    database_url: str | None,
) -> tuple[Analysis, str]:
    """The analysis of the file at ``path`` and a line saying where it was recorded (e.g.
    "EXP-3, look 2"). A user-level file is read by DuckDB where it lies, as without --record."""
    return run_sync(_record(path, options, thresholds, database_url))


async def _record(
    path: Path,
    options: Options,
    thresholds: Thresholds,
    database_url: str | None,
) -> tuple[Analysis, str]:
    store = await HistoryStore.open(database_url)
    try:
        name = options.name or path.name.removesuffix(".csv")
        existing = await store.get_experiment(CLI_TEAM, name, channel_id=CLI_CHANNEL)
        if existing is not None and existing.name != name:
            existing = None  # a partial-name match is another experiment
        prior = existing.look_count if existing else 0
        options = dataclasses.replace(options, name=name, prior_looks=prior)
        parsed = ingest.parse_path(path, options=options, thresholds=thresholds)
        analysis = analyze_data(parsed, options=options, thresholds=thresholds)
        record = await store.record_analysis(
            team_id=CLI_TEAM,
            channel_id=CLI_CHANNEL,
            experiment_id=existing.id if existing else None,
            **fields_from_analysis(analysis),
        )
        experiment = await store.get_experiment_by_id(CLI_TEAM, record.experiment_id)
        return analysis, f"recorded as {experiment.ref}, look {record.look}"
    finally:
        await store.close()
