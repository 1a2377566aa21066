"""Scheduled runs (a charter's scheduled look, a channel's digest) over one AsyncSession: the claim
that lets exactly one bot process run each due time, and what the scheduler reads."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from experimentos.charter import ScheduledRunRecord
from experimentos.store.tables import RUN_KINDS, DecisionRow, ExperimentRow, ScheduledRun, utcnow

MAX_OUTCOME = 2000


def due_time(due_at: datetime) -> datetime:
    """The due time as claimed: aware UTC, whole seconds (every process computes the same)."""
    if due_at.tzinfo is None:
        raise ValueError("naive due time given to the history store; use an aware one")
    return due_at.astimezone(UTC).replace(microsecond=0)


async def claim_run(
    session: AsyncSession, kind: str, subject: str, due_at: datetime, claimed_by: str
) -> bool:
    """INSERT the run; False when (kind, subject, due_at) is already there (the unique key, on
    SQLite and PostgreSQL alike: ON CONFLICT DO NOTHING inserts no row and returns none)."""
    if kind not in RUN_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(ScheduledRun)
        .values(
            kind=kind,
            subject=subject,
            due_at=due_time(due_at),
            claimed_by=claimed_by[:255],
            claimed_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=[ScheduledRun.kind, ScheduledRun.subject, ScheduledRun.due_at]
        )
        .returning(ScheduledRun.id)
    )
    return (await session.execute(statement)).first() is not None


async def finish_run(
    session: AsyncSession, kind: str, subject: str, due_at: datetime, outcome: str
) -> bool:
    """Keep what came of a claimed run (one line); False when no such run was claimed."""
    result = await session.execute(
        update(ScheduledRun)
        .where(
            ScheduledRun.kind == kind,
            ScheduledRun.subject == subject,
            ScheduledRun.due_at == due_time(due_at),
        )
        .values(outcome=outcome[:MAX_OUTCOME])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def forget_runs(session: AsyncSession, before: datetime) -> int:
    """Delete the runs due before ``before`` (aware); how many. A run that old can never be
    claimed again (a missed fire runs only within its grace), so its row only fills the table."""
    result = await session.execute(
        delete(ScheduledRun).where(ScheduledRun.due_at < due_time(before))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def runs(session: AsyncSession, kind: str, subject: str) -> list[ScheduledRunRecord]:
    query = (
        select(ScheduledRun)
        .where(ScheduledRun.kind == kind, ScheduledRun.subject == subject)
        .order_by(ScheduledRun.due_at, ScheduledRun.id)
    )
    return [
        ScheduledRunRecord(
            kind=row.kind,
            subject=row.subject,
            due_at=row.due_at,
            claimed_by=row.claimed_by,
            claimed_at=row.claimed_at,
            outcome=row.outcome,
        )
        for row in (await session.execute(query)).scalars()
    ]


def scheduled_query() -> Select[tuple[ExperimentRow]]:
    """Experiments of every team with a refresh schedule, a source and a thread, not completed."""
    return (
        select(ExperimentRow)
        .where(
            ExperimentRow.refresh_schedule.is_not(None),
            or_(ExperimentRow.source_env.is_not(None), ExperimentRow.source_platform.is_not(None)),
            ExperimentRow.thread_ts.is_not(None),
            ExperimentRow.status != "completed",
        )
        .order_by(ExperimentRow.id)
    )


def running_undecided_query() -> Select[tuple[ExperimentRow]]:
    """Running experiments of every team with no decision recorded, by team, channel, number."""
    decided = exists().where(DecisionRow.experiment_id == ExperimentRow.id)
    return (
        select(ExperimentRow)
        .where(ExperimentRow.status == "running", ~decided)
        .order_by(ExperimentRow.team_id, ExperimentRow.channel_id, ExperimentRow.number)
    )
