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

from pathlib import Path

from experimentos.errors import ExperimentError
from experimentos.model import Analysis, Options, Thresholds
from experimentos.store import (
    StoreError,
    database_url_from_env,
    normalize_database_url,
    open_store,
    reported_as_unavailable,
)
from experimentos.store.migrate import run_sync
from experimentos.usecases import analyse_and_record_by_name


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
    store = await open_store(url)
    try:
        return await analyse_and_record_by_name(
            store, path, options=options, thresholds=thresholds, url=url
        )
    finally:
        with reported_as_unavailable(url, doing="close"):
            await store.close()
