"""HistoryStore: the repository the bot and the CLI use, returning frozen records.

Each method is one transaction. Writes take SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``) so
that concurrent writers queue behind the busy timeout; on PostgreSQL they take row locks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from experimentos.charter import (
    AnalysisRecord,
    Charter,
    DecisionRecord,
    ExperimentRecord,
    ExperimentSummary,
    ScheduledRunRecord,
)
from experimentos.store import experiment_queries as experiments
from experimentos.store import look_queries as looks
from experimentos.store import run_queries as runs
from experimentos.store.engine import WRITE_OPTIONS, create_engine_from_url
from experimentos.store.errors import AnalysisNotFound, DuplicateEventError, ThreadTaken
from experimentos.store.migrate import upgrade as upgrade_schema
from experimentos.store.tables import AnalysisRow


class HistoryStore:
    """Experiments, their looks and decisions, scoped to a Slack team (and channel for listings)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = False) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False
        )
        # SQLite has one writer at a time: queue this process's writers here (first come, first
        # served) rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self._write_queue = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    async def open(
        cls, url: str | None = None, *, upgrade: bool = True, **engine_options: Any
    ) -> HistoryStore:
        """A store on ``url`` (None: ``DATABASE_URL`` or SQLite), its schema upgraded to head."""
        engine = create_engine_from_url(url, **engine_options)
        if upgrade:
            try:
                await upgrade_schema(engine)
            except BaseException:
                await engine.dispose()
                raise
        return cls(engine, owns_engine=True)

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> HistoryStore:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with (
            self._write_queue or nullcontext(),
            self._writes() as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._reads() as session:
            yield session

    # ------------------------------------------------------------------ experiments

    async def create_experiment(
        self,
        *,
        team_id: str,
        channel_id: str,
        charter: Charter,
        created_by: str | None = None,
        thread_ts: str | None = None,
    ) -> ExperimentRecord:
        """A Proposed experiment numbered EXP-n within the team."""
        try:
            async with self._write() as session:
                row = await experiments.create(
                    session,
                    team_id=team_id,
                    channel_id=channel_id,
                    charter=charter,
                    created_by=created_by,
                    thread_ts=thread_ts,
                )
                return experiments.to_record(row)
        except IntegrityError:
            if thread_ts is not None and await self.find_experiment_by_thread(
                team_id, channel_id, thread_ts
            ):
                raise ThreadTaken(channel_id, thread_ts) from None
            raise

    async def set_thread(
        self, team_id: str, experiment_id: int, *, channel_id: str, thread_ts: str
    ) -> ExperimentRecord:
        """Attach the charter's message thread (CSVs posted there become looks)."""
        try:
            async with self._write() as session:
                row = await experiments.row_by_id(session, team_id, experiment_id, lock=True)
                row.channel_id, row.thread_ts = channel_id, thread_ts
                await session.flush()
                return experiments.to_record(row)
        except IntegrityError:
            raise ThreadTaken(channel_id, thread_ts) from None

    async def find_experiment_by_thread(
        self, team_id: str, channel_id: str, thread_ts: str
    ) -> ExperimentRecord | None:
        async with self._read() as session:
            found = await experiments.id_for_thread(session, team_id, channel_id, thread_ts)
            if found is None:
                return None
            return experiments.to_record(await experiments.row_by_id(session, team_id, found))

    async def find_experiment_by_name(
        self, team_id: str, channel_id: str, name: str
    ) -> ExperimentRecord | None:
        """The channel's experiment called exactly ``name`` (the one ``by_name`` records go to)."""
        async with self._read() as session:
            found = await experiments.id_for_name(
                session, team_id, channel_id, experiments.clean_name(name)
            )
            if found is None:
                return None
            return experiments.to_record(await experiments.row_by_id(session, team_id, found))

    async def get_experiment(
        self, team_id: str, ref: str | int, *, channel_id: str | None = None
    ) -> ExperimentRecord | None:
        """By ``EXP-12`` / ``12`` / number, else by name (see :func:`experiments.find_by_ref`)."""
        async with self._read() as session:
            row = await experiments.find_by_ref(session, team_id, ref, channel_id=channel_id)
            return experiments.to_record(row) if row else None

    async def get_experiment_by_id(self, team_id: str, experiment_id: int) -> ExperimentRecord:
        async with self._read() as session:
            return experiments.to_record(
                await experiments.row_by_id(session, team_id, experiment_id)
            )

    async def list_experiments(
        self,
        team_id: str,
        *,
        channel_id: str | None = None,
        text: str | None = None,
        limit: int = 20,
    ) -> list[ExperimentSummary]:
        """Newest first, each with its latest look and latest recorded decision."""
        query = experiments.listing_query(
            team_id, channel_id=channel_id, text=text, order="created"
        )
        return await self._summaries(team_id, query.limit(limit))

    async def recent_for_team(self, team_id: str, *, limit: int = 10) -> list[ExperimentSummary]:
        """The team's most recently active experiments (App Home)."""
        query = experiments.listing_query(team_id, channel_id=None, text=None, order="updated")
        return await self._summaries(team_id, query.limit(limit))

    async def _summaries(self, team_id: str, query: Any) -> list[ExperimentSummary]:
        async with self._read() as session:
            rows = list((await session.execute(query)).scalars())
            ids = [row.id for row in rows]
            briefs = await looks.latest_briefs(session, ids)
            decisions = await looks.decision_rows(session, team_id, ids, latest_only=True)
        latest_decision = {d.experiment_id: looks.decision_record(d) for d in decisions}
        return [
            ExperimentSummary(experiments.to_record(r), briefs.get(r.id), latest_decision.get(r.id))
            for r in rows
        ]

    async def teams(self) -> list[str]:
        """Every team with an experiment (for the command line, which has no Slack context)."""
        async with self._read() as session:
            return list((await session.execute(experiments.teams_query())).scalars())

    async def backlog(self, team_id: str, *, limit: int = 20) -> list[ExperimentRecord]:
        """Proposed experiments by RICE score, highest first (unscored last)."""
        async with self._read() as session:
            rows = (
                await session.execute(experiments.backlog_query(team_id).limit(limit))
            ).scalars()
            return [experiments.to_record(row) for row in rows]

    async def set_status(self, team_id: str, experiment_id: int, status: str) -> ExperimentRecord:
        """proposed | running | completed (decisions go through :meth:`record_decision`)."""
        async with self._write() as session:
            row = await experiments.row_by_id(session, team_id, experiment_id, lock=True)
            experiments.set_status(row, status)
            await session.flush()
            return experiments.to_record(row)

    async def update_charter(
        self, team_id: str, experiment_id: int, charter: Charter, *, by: str | None = None
    ) -> ExperimentRecord:
        """Replace the charter; after the first look, changes to locked fields are recorded."""
        async with self._write() as session:
            row = await experiments.row_by_id(session, team_id, experiment_id, lock=True)
            experiments.apply_charter(row, charter, by=by)
            await session.flush()
            return experiments.to_record(row)

    # ------------------------------------------------------------------ analyses

    async def record_analysis(
        self,
        *,
        team_id: str,
        result_json: dict[str, Any],
        verdict_kind: str,
        verdict_reason: str,
        health_status: str,
        file_name: str,
        checksum: str,
        channel_id: str,
        thread_ts: str | None = None,
        experiment_id: int | None = None,
        experiment_name: str | None = None,
        memo_markdown: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
        event_key: str | None = None,
        charter: Charter | None = None,
        bind_thread: bool = True,
        by_name: bool = False,
        prior_looks: int | None = None,
    ) -> AnalysisRecord:
        """Store one look in ONE transaction: find or create the experiment, number the look,
        insert the analysis. ``experiment_id`` names the experiment; otherwise the thread's is
        used, or a Running one is created (with ``charter``, else named ``experiment_name``, else
        after the file). ``bind_thread=False`` creates a new experiment that does not claim the
        thread (a second CSV of a message that started one), while the analysis still records it.
        ``by_name=True`` (the command line, no thread): the experiment is the channel's one called
        exactly ``experiment_name``, created when there is none; concurrent callers with one name
        share one experiment. ``prior_looks`` is the look count the analysis was made for: when the
        experiment has another count by now (a concurrent look), nothing is stored and
        LookCountChanged says the count to analyse for.
        Raises DuplicateEventError when ``event_key`` is already stored.
        """
        looks.check_analysis_fields(
            verdict_kind=verdict_kind, health_status=health_status, result_json=result_json
        )
        result = json.loads(json.dumps(result_json, allow_nan=False))  # what a read gives back
        try:
            async with self._write() as session:
                if experiment_id is None and by_name:
                    experiment_id = await experiments.find_or_create_by_name(
                        session,
                        team_id=team_id,
                        channel_id=channel_id,
                        name=experiment_name or _name_in(result) or file_name,
                        created_by=user_id,
                    )
                elif experiment_id is None:
                    experiment_id = await experiments.find_or_create_for_thread(
                        session,
                        team_id=team_id,
                        channel_id=channel_id,
                        thread_ts=thread_ts if bind_thread else None,
                        name=experiment_name or _name_in(result) or file_name,
                        created_by=user_id,
                        charter=charter,
                    )
                else:
                    await experiments.row_by_id(session, team_id, experiment_id)
                row = await looks.insert_analysis(
                    session,
                    team_id=team_id,
                    experiment_id=experiment_id,
                    prior_looks=prior_looks,
                    file_name=file_name,
                    checksum=checksum,
                    health_status=health_status,
                    verdict_kind=verdict_kind,
                    verdict_reason=verdict_reason,
                    result=result,
                    memo_markdown=memo_markdown,
                    user_id=user_id,
                    channel_id=channel_id,
                    thread_ts=thread_ts,
                    message_ts=message_ts,
                    event_key=event_key,
                )
                return looks.analysis_record(row)
        except IntegrityError:
            if event_key is not None:
                async with self._read() as session:
                    if await looks.event_already_stored(session, event_key):
                        raise DuplicateEventError(event_key) from None
            raise

    async def set_analysis_message(self, team_id: str, analysis_id: int, message_ts: str) -> None:
        """Remember the ts of the card posted for an analysis."""
        async with self._write() as session:
            row = await session.get(AnalysisRow, analysis_id)
            if row is None or row.team_id != team_id:
                raise AnalysisNotFound(analysis_id)
            row.message_ts = message_ts

    async def get_analysis(self, team_id: str, analysis_id: int) -> AnalysisRecord | None:
        """One look by its id (what a card's buttons carry), None when not this team's."""
        async with self._read() as session:
            row = await session.get(AnalysisRow, analysis_id)
            if row is None or row.team_id != team_id:
                return None
            return looks.analysis_record(row)

    async def latest_analysis(self, team_id: str, experiment_id: int) -> AnalysisRecord | None:
        async with self._read() as session:
            rows = await looks.analysis_rows(session, team_id, experiment_id, latest_only=True)
            return looks.analysis_record(rows[0]) if rows else None

    async def analyses_for(self, team_id: str, experiment_id: int) -> list[AnalysisRecord]:
        """Every look, first to last."""
        async with self._read() as session:
            rows = await looks.analysis_rows(session, team_id, experiment_id)
            return [looks.analysis_record(row) for row in rows]

    # ------------------------------------------------------------------ decisions and events

    async def record_decision(
        self,
        team_id: str,
        experiment_id: int,
        decision: str,
        *,
        user_id: str,
        reason: str | None = None,
        analysis_id: int | None = None,
    ) -> DecisionRecord:
        """launched | held | rolled-back, against the latest (or given) look's verdict.

        Raises DecisionReasonRequired (a ValueError) when it goes against the verdict without a
        reason. launched and rolled-back complete the experiment; held leaves its status.
        """
        async with self._write() as session:
            row = await looks.insert_decision(
                session,
                team_id=team_id,
                experiment_id=experiment_id,
                decision=decision,
                user_id=user_id,
                reason=reason,
                analysis_id=analysis_id,
            )
            return looks.decision_record(row)

    async def decisions_for(self, team_id: str, experiment_id: int) -> list[DecisionRecord]:
        """The audit trail, oldest first."""
        async with self._read() as session:
            rows = await looks.decision_rows(session, team_id, [experiment_id])
            return [looks.decision_record(row) for row in rows]

    async def claim_event(self, team_id: str, event_key: str) -> bool:
        """True for the first claim of ``event_key`` across every process sharing the database."""
        async with self._write() as session:
            return await looks.claim_event(session, team_id, event_key)

    # ------------------------------------------------------------------ scheduled runs

    async def claim_run(self, kind: str, subject: str, due_at: datetime, claimed_by: str) -> bool:
        """True for the first claim of (kind, subject, due_at) across every process sharing the
        database: only that process runs the scheduled look ('look', experiment id) or digest
        ('digest', ``team:channel``) due then."""
        async with self._write() as session:
            return await runs.claim_run(session, kind, subject, due_at, claimed_by)

    async def finish_run(self, kind: str, subject: str, due_at: datetime, outcome: str) -> bool:
        """Keep the outcome of a claimed run (one line); False when it was never claimed."""
        async with self._write() as session:
            return await runs.finish_run(session, kind, subject, due_at, outcome)

    async def forget_runs(self, before: datetime) -> int:
        """Delete the claimed runs due before ``before``; how many were deleted."""
        async with self._write() as session:
            return await runs.forget_runs(session, before)

    async def scheduled_runs(self, kind: str, subject: str) -> list[ScheduledRunRecord]:
        """The claimed runs of one subject, oldest due time first."""
        async with self._read() as session:
            return await runs.runs(session, kind, subject)

    async def scheduled_experiments(self) -> list[ExperimentRecord]:
        """Every team's experiments the scheduler refreshes: a schedule, a source, a thread, and
        not completed."""
        async with self._read() as session:
            rows = (await session.execute(runs.scheduled_query())).scalars()
            return [experiments.to_record(row) for row in rows]

    async def running_undecided(self) -> list[ExperimentSummary]:
        """Every team's running experiments with no decision recorded (what the digest lists),
        by team, channel and number, each with its latest look."""
        async with self._read() as session:
            rows = list((await session.execute(runs.running_undecided_query())).scalars())
            briefs = await looks.latest_briefs(session, [row.id for row in rows])
        return [
            ExperimentSummary(experiments.to_record(row), briefs.get(row.id), None) for row in rows
        ]

    async def forget_events(self, before: datetime) -> int:
        """Delete claims older than ``before`` (Slack retries within minutes); returns the count."""
        async with self._write() as session:
            return await looks.forget_events(session, before)


def _name_in(result: dict[str, Any]) -> str | None:
    experiment = result.get("experiment")
    name = experiment.get("name") if isinstance(experiment, dict) else None
    return name if isinstance(name, str) and name.strip() else None
