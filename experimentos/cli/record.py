"""``experimentos analyze --record``: analyse and keep the look in the history store.

Command-line analyses live under the team ``local`` and channel ``cli``; an experiment is found
again by its exact name, so analysing the same experiment twice is its second look (and is flagged
as peeking when no looks were planned). Runs at the same time share the experiment too: each look
is analysed for the number of looks before it, and analysed again should another run record a look
in between.

When the store cannot be used (a corrupt or unwritable SQLite file, a PostgreSQL server that does
not answer) nothing is printed but one line saying the look was not recorded, where, and why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.errors import ExperimentError
from experimentos.model import Analysis, Options, Thresholds
from experimentos.store import (
    LookCountChanged,
    StoreError,
    database_url_from_env,
    fields_from_analysis,
    normalize_database_url,
    open_store,
    reported_as_unavailable,
)
from experimentos.store.migrate import run_sync

CLI_TEAM = "local"
CLI_CHANNEL = "cli"


class LookNotRecorded(ExperimentError):
    """The history store could not keep the look (the message names the store and the reason)."""


def analyze_and_record(
    path: Path,
    *,
    options: Options,
    thresholds: Thresholds,
    database_url: str | None,
) -> tuple[Analysis, str]:
    """The analysis of the file at ``path`` and a line saying where it was recorded (e.g.
    "recorded as EXP-3, look 2"). A user-level file is read by DuckDB where it lies, as without
    --record. Raises LookNotRecorded when the store cannot be opened or written."""
    url = normalize_database_url(database_url) if database_url else database_url_from_env()
    try:
        return run_sync(_record(path, options, thresholds, url))
    except StoreError as error:
        raise LookNotRecorded(
            f"the look was not recorded: {error}. Check --database-url (or DATABASE_URL), or run "
            "without --record to see the analysis."
        ) from error


async def _record(
    path: Path, options: Options, thresholds: Thresholds, url: str
) -> tuple[Analysis, str]:
    name = options.name or path.name.removesuffix(".csv")
    store = await open_store(url)
    try:
        with reported_as_unavailable(url, doing="read"):
            existing = await store.find_experiment_by_name(CLI_TEAM, CLI_CHANNEL, name)
        options = dataclasses.replace(options, name=name)
        parsed = ingest.parse_path(path, options=options, thresholds=thresholds)
        prior = existing.look_count if existing else 0
        while True:  # each retry means another run's look was stored first
            looked = dataclasses.replace(options, prior_looks=prior)
            analysis = analyze_data(parsed, options=looked, thresholds=thresholds)
            try:
                with reported_as_unavailable(url, doing="write to"):
                    record = await store.record_analysis(
                        team_id=CLI_TEAM,
                        channel_id=CLI_CHANNEL,
                        by_name=True,
                        prior_looks=prior,
                        **fields_from_analysis(analysis),
                    )
            except LookCountChanged as moved:
                prior = moved.look_count
                continue
            break
        with reported_as_unavailable(url, doing="read"):
            experiment = await store.get_experiment_by_id(CLI_TEAM, record.experiment_id)
        return analysis, f"recorded as {experiment.ref}, look {record.look}"
    finally:
        with reported_as_unavailable(url, doing="close"):
            await store.close()
