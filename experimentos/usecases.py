"""What every entry point calls: the command line, the demo and the Slack bot.

- ``analyse_platform``: an experiment on GrowthBook, Statsig or Hackle (``growthbook:EXP_KEY``),
  its results fetched through the platform's API → the Analysis, with the platform's own figures
  set next to ours.
- ``analyse_file``: a results file at a path (and, for a planned look, the charter's target
  sample size) → the Analysis.
- ``plan_look``: which experiment a CSV is a look at, its look number and its analysis options
  (the charter and the earlier looks, from the history).
- ``record_look``: keep a look (after a charter change the message made) in the history.
- ``analyse_and_record_by_name``: the command line's ``--record`` — the experiment is found by its
  name, and each look is analysed for the number of looks before it, again if another run
  recorded a look in between.

Look numbering lives here alone (the information fraction in ``analysis.look_plan``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from experimentos import ingest
from experimentos.analysis.assemble import analyze_data
from experimentos.analysis.look_plan import (
    default_name,
    merge_charter,
    options_for,
    source_stem,
    users_in_look,
    with_this_look,
)
from experimentos.charter import AnalysisRecord, Charter, ExperimentRecord
from experimentos.config import load_thresholds
from experimentos.errors import ExperimentError
from experimentos.ingest.arms import experiment_data
from experimentos.model import Analysis, ExperimentData, InferenceMethod, Options, Thresholds

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported when a look is kept, not by the analysis
    from experimentos.platforms.base import ExperimentSummary as PlatformExperiment
    from experimentos.store import HistoryStore

CLI_TEAM = "local"
CLI_CHANNEL = "cli"
"""Command-line looks live under this team and channel; an experiment is found by its name."""


def analyse_file(
    path: Path,
    *,
    file_name: str | None = None,
    options: Options,
    thresholds: Thresholds | None = None,
    target_users: int | None = None,
) -> Analysis:
    """The Analysis of the results file at ``path``.

    With ``target_users`` (a charter's target sample size) and a planned look, this look's
    information fraction is appended to ``options.look_fractions`` (the earlier looks'): the users
    are known only once the file is read. Raises ExperimentError when the file cannot be read.
    """
    thresholds = thresholds or load_thresholds()
    parsed = ingest.parse_path(path, file_name=file_name, options=options, thresholds=thresholds)
    return _analyse_look(parsed, options=options, thresholds=thresholds, target_users=target_users)


def _analyse_look(
    data: ExperimentData, *, options: Options, thresholds: Thresholds, target_users: int | None
) -> Analysis:
    """Analyse read data as one look: with ``target_users`` and a planned look, this look's
    information fraction (its users ÷ the target) joins the earlier looks'."""
    users = sum(arm.primary.users for arm in data.arms)
    options = with_this_look(options, users, target_users)
    return analyze_data(data, options=options, thresholds=thresholds)


def analyse_query(
    url: str,
    query: str,
    *,
    options: Options,
    thresholds: Thresholds | None = None,
    timeout_seconds: float | None = None,
    source_name: str | None = None,
    target_users: int | None = None,
) -> Analysis:
    """The Analysis of a user-level warehouse query (``url`` a PostgreSQL or DuckDB URL), its
    rows aggregated inside the database. Raises ExperimentError when the query is refused or the
    source fails (one line naming it, password hidden). ``target_users``: as in analyse_file."""
    from experimentos.ingest import sql_source  # SQLAlchemy and the drivers: only here

    thresholds = thresholds or load_thresholds()
    timeout = sql_source.DEFAULT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    table = sql_source.read_query(
        url,
        query,
        options=options,
        thresholds=thresholds,
        timeout_seconds=timeout,
        source_name=source_name,
    )
    parsed = experiment_data(table, options=options)
    return _analyse_look(parsed, options=options, thresholds=thresholds, target_users=target_users)


def analyse_platform(
    ref: str,
    *,
    options: Options,
    thresholds: Thresholds | None = None,
    environ: Mapping[str, str] | None = None,
    target_users: int | None = None,
    phase: int | None = None,
    dimension: str | None = None,
    snapshot: bool = False,
    snapshot_wait_s: float | None = None,
    results_file: Path | None = None,
) -> Analysis:
    """The Analysis of an experiment on a platform, ``ref`` as ``growthbook:EXP_KEY``,
    ``statsig:EXP_ID`` or ``hackle:EXP_KEY``, its API key and URL read from ``environ``
    (default: the process environment).

    GrowthBook takes a ``phase``, a ``dimension`` and a fresh ``snapshot`` (waited for up to
    ``snapshot_wait_s``, default 10 minutes). Hackle has no results
    API: its ``results_file`` (a dashboard CSV export) is read as an aggregated CSV, the name from
    the admin API when a key is set. Findings say where the platform's figures and ours differ.
    Raises ExperimentError (PlatformError: one line naming the platform, never the key).
    """
    import os

    from experimentos import platforms
    from experimentos.platforms.table import cross_check, stats_table

    thresholds = thresholds or load_thresholds()
    environ = os.environ if environ is None else environ
    name, key = platforms.parse_ref(ref)
    if name == "hackle":
        return _analyse_hackle(key, results_file, options, thresholds, environ, target_users)
    provider = platforms.provider(name, environ)
    try:
        results = provider.fetch_results(
            key,
            phase=phase,
            dimension=dimension,
            snapshot=snapshot,
            snapshot_wait_s=snapshot_wait_s,
        )
    finally:
        provider.close()
    options = dataclasses.replace(
        options,
        name=options.name or results.name,
        control=options.control or results.control.casefold(),
    )
    parsed = experiment_data(stats_table(results, options), options=options)
    analysis = _analyse_look(
        parsed, options=options, thresholds=thresholds, target_users=target_users
    )
    checks = cross_check(results, analysis)
    if not checks:
        return analysis
    health = dataclasses.replace(analysis.health, findings=(*analysis.health.findings, *checks))
    return dataclasses.replace(analysis, health=health)


def _analyse_hackle(
    key: str,
    results_file: Path | None,
    options: Options,
    thresholds: Thresholds,
    environ: Mapping[str, str],
    target_users: int | None,
) -> Analysis:
    from experimentos.platforms.hackle import NO_RESULTS_API, Hackle

    if results_file is None:
        raise ExperimentError(f"{NO_RESULTS_API}.")
    if not options.name and environ.get("HACKLE_ADMIN_KEY"):
        hackle = Hackle(environ)
        try:
            options = dataclasses.replace(options, name=hackle.find(key).name)
        finally:
            hackle.close()
    options = dataclasses.replace(options, name=options.name or key)
    return analyse_file(
        results_file,
        file_name=f"hackle:{key}",
        options=options,
        thresholds=thresholds,
        target_users=target_users,
    )


def analyse_parquet(
    pattern: str, *, options: Options, thresholds: Thresholds | None = None
) -> Analysis:
    """The Analysis of user-level Parquet files (a path or a glob), read by DuckDB."""
    from experimentos.ingest import sql_source

    thresholds = thresholds or load_thresholds()
    table = sql_source.read_parquet(pattern, options=options, thresholds=thresholds)
    return analyze_data(
        experiment_data(table, options=options), options=options, thresholds=thresholds
    )


def list_platform_experiments(
    platform: str, *, environ: Mapping[str, str] | None = None, status: str | None = None
) -> list[PlatformExperiment]:
    """A platform's experiments (key, name, status), every page; ``status`` keeps those whose
    status is that word (any case). Raises ExperimentError naming the platform."""
    import os

    from experimentos import platforms

    environ = os.environ if environ is None else environ
    with contextlib.closing(platforms.provider(platform, environ)) as provider:
        found = provider.list_experiments()
    wanted = (status or "").strip().casefold()
    return [e for e in found if not wanted or e.status.casefold() == wanted]


# --------------------------------------------------------------------------- looks in a thread


@dataclass(frozen=True, slots=True)
class LookPlan:
    experiment: ExperimentRecord | None
    """The thread's experiment; None when this CSV starts a new one."""
    look: int
    options: Options
    """What the analysis is given: the charter's split, guardrails and looks, the message's lines."""
    target_users: int | None
    """The charter's target sample size when it plans looks (information = users ÷ target)."""
    previous: AnalysisRecord | None
    """The latest earlier look, for the look diff."""
    charter: Charter
    """The charter this look is analysed against (the stored one plus the message's changes)."""
    bind_thread: bool

    @property
    def charter_changed(self) -> bool:
        return self.experiment is not None and self.charter != self.experiment.charter


async def plan_look(
    store: HistoryStore,
    *,
    team_id: str,
    channel: str,
    thread_ts: str,
    options: Options,
    file_name: str,
    bind_thread: bool = True,
    method: InferenceMethod | None = None,
) -> LookPlan:
    """The plan for one CSV posted in ``thread_ts`` (the message's own ts outside a thread): a CSV
    in the thread of an experiment (its charter or an earlier card) is its next look; any other
    CSV starts an experiment whose thread is the message.

    ``method`` is what the message's ``method:`` line names (None: the charter decides)."""
    experiment = (
        await store.find_experiment_by_thread(team_id, channel, thread_ts) if bind_thread else None
    )
    if experiment is None:
        charter = merge_charter(Charter(name=default_name(options, file_name)), options)
        analysis_options, target = options_for(
            options, charter, look=1, prior_users=(), method=method
        )
        return LookPlan(None, 1, analysis_options, target, None, charter, bind_thread)
    earlier = await store.analyses_for(team_id, experiment.id)
    looks = await asyncio.to_thread(lambda: [record.analysis() for record in earlier])
    look = experiment.look_count + 1
    charter = merge_charter(experiment.charter, options)
    prior_users = [users_in_look(a) if a is not None else None for a in looks]
    analysis_options, target = options_for(
        options, charter, look=look, prior_users=prior_users, method=method
    )
    previous = earlier[-1] if earlier else None
    return LookPlan(experiment, look, analysis_options, target, previous, charter, True)


async def record_look(
    store: HistoryStore,
    plan: LookPlan,
    analysis: Analysis,
    *,
    team_id: str,
    channel: str,
    thread_ts: str,
    user: str | None,
    event_key: str,
) -> tuple[AnalysisRecord, ExperimentRecord]:
    """Keep the look (one transaction), after recording a charter the message changed.

    The charter goes first, so the store knows whether data had been seen before the change
    (looks already recorded: the change is logged and flagged, the charter lock).
    """
    from experimentos.store import fields_from_analysis

    if plan.experiment is not None and plan.charter_changed:
        await store.update_charter(team_id, plan.experiment.id, plan.charter, by=user)
    record = await store.record_analysis(
        team_id=team_id,
        channel_id=channel,
        thread_ts=thread_ts,
        experiment_id=plan.experiment.id if plan.experiment else None,
        charter=None if plan.experiment else plan.charter,
        bind_thread=plan.bind_thread,
        user_id=user,
        event_key=event_key,
        **fields_from_analysis(analysis),
    )
    return record, await store.get_experiment_by_id(team_id, record.experiment_id)


# --------------------------------------------------------------------------- the command line


async def analyse_and_record_by_name(
    store: HistoryStore, path: Path, *, options: Options, thresholds: Thresholds, url: str
) -> tuple[Analysis, str]:
    """The analysis of the file at ``path`` kept as the next look of the command line's
    experiment of that name, and a line saying where ("recorded as EXP-3, look 2").

    Runs at the same time share the experiment: each look is analysed for the number of looks
    before it, and analysed again should another run record a look in between. Store failures
    are StoreUnavailable naming ``url``."""
    from experimentos.store import LookCountChanged, fields_from_analysis, reported_as_unavailable

    name = options.name or source_stem(path.name)
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
