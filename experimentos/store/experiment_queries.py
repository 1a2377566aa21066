"""Experiment queries over one AsyncSession: numbering, charter, status, listings.

The caller owns the transaction (see :class:`experimentos.store.repository.HistoryStore`). Functions
that write take the row locks they need so that concurrent bot processes on PostgreSQL stay
consistent; on SQLite a writing transaction holds the database's write lock from its BEGIN.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from experimentos.charter import (
    LOCKED_FIELDS,
    Charter,
    CharterChange,
    CharterGuardrail,
    ExperimentRecord,
    Rice,
    parse_ref,
)
from experimentos.model import jsonable
from experimentos.schedule import ScheduleError, parse_schedule
from experimentos.store.errors import ExperimentNotFound
from experimentos.store.tables import STATUSES, ExperimentRow, TeamCounter, utcnow

Order = Literal["created", "updated"]


async def create(
    session: AsyncSession,
    *,
    team_id: str,
    channel_id: str,
    charter: Charter,
    created_by: str | None,
    thread_ts: str | None = None,
    status: str = "proposed",
) -> ExperimentRow:
    """Insert an experiment with the team's next number (EXP-n)."""
    number = await _locked_counter(session, team_id) + 1
    now = utcnow()
    row = ExperimentRow(
        team_id=team_id,
        number=number,
        channel_id=channel_id,
        thread_ts=thread_ts,
        status=status,
        look_count=0,
        created_by=created_by,
        created_at=now,
        updated_at=now,
        charter_changes=[],
        **charter_columns(charter),
    )
    session.add(row)
    await session.execute(
        update(TeamCounter)
        .where(TeamCounter.team_id == team_id)
        .values(last_experiment_number=number)
    )
    await session.flush()
    return row


async def find_or_create_for_thread(
    session: AsyncSession,
    *,
    team_id: str,
    channel_id: str,
    thread_ts: str | None,
    name: str,
    created_by: str | None,
    charter: Charter | None = None,
) -> int:
    """The id of the thread's experiment, created (status running) when the thread has none,
    with ``charter`` (else a charter of just ``name``)."""
    if thread_ts is not None:
        found = await _look_up_under_team_lock(
            session, team_id, lambda: id_for_thread(session, team_id, channel_id, thread_ts)
        )
        if found is not None:
            return found
    row = await create(
        session,
        team_id=team_id,
        channel_id=channel_id,
        charter=charter or Charter(name=clean_name(name)),
        created_by=created_by,
        thread_ts=thread_ts,
        status="running",
    )
    return row.id


async def find_or_create_by_name(
    session: AsyncSession,
    *,
    team_id: str,
    channel_id: str,
    name: str,
    created_by: str | None,
) -> int:
    """The id of the channel's experiment called exactly ``name`` (the newest, should there be
    several), created (status running) when there is none.

    Creation is serialised within the team by the counter's row lock (PostgreSQL) or the write
    lock taken at BEGIN (SQLite), and the name is looked up again under that lock: concurrent
    callers with one name end up with one experiment.
    """
    name = clean_name(name)
    found = await _look_up_under_team_lock(
        session, team_id, lambda: id_for_name(session, team_id, channel_id, name)
    )
    if found is not None:
        return found
    row = await create(
        session,
        team_id=team_id,
        channel_id=channel_id,
        charter=Charter(name=name),
        created_by=created_by,
        status="running",
    )
    return row.id


async def _look_up_under_team_lock(
    session: AsyncSession, team_id: str, look_up: Callable[[], Awaitable[int | None]]
) -> int | None:
    """``look_up()``; when it finds nothing, again under the team counter's lock, which serialises
    creation within the team (a row lock on PostgreSQL, the write lock taken at BEGIN on SQLite):
    a concurrent creator's row is then visible, and the caller creates only if still nothing."""
    found = await look_up()
    if found is not None:
        return found
    await _locked_counter(session, team_id)
    return await look_up()


def clean_name(name: str) -> str:
    """An experiment name as stored: stripped, at most 200 characters, never empty."""
    return name.strip()[:200].strip() or "Untitled experiment"


async def id_for_name(
    session: AsyncSession, team_id: str, channel_id: str, name: str
) -> int | None:
    """The newest experiment of the channel whose name is exactly ``name`` (case included)."""
    query = (
        select(ExperimentRow.id)
        .where(
            ExperimentRow.team_id == team_id,
            ExperimentRow.channel_id == channel_id,
            ExperimentRow.name == name,
        )
        .order_by(ExperimentRow.created_at.desc(), ExperimentRow.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _locked_counter(session: AsyncSession, team_id: str) -> int:
    """The team's last experiment number, its row locked until the transaction ends."""
    dialect = session.bind.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    await session.execute(
        module.insert(TeamCounter)
        .values(team_id=team_id, last_experiment_number=0)
        .on_conflict_do_nothing(index_elements=[TeamCounter.team_id])
    )
    query = select(TeamCounter.last_experiment_number).where(TeamCounter.team_id == team_id)
    return (await session.execute(query.with_for_update())).scalar_one()


async def id_for_thread(
    session: AsyncSession, team_id: str, channel_id: str, thread_ts: str
) -> int | None:
    query = select(ExperimentRow.id).where(
        ExperimentRow.team_id == team_id,
        ExperimentRow.channel_id == channel_id,
        ExperimentRow.thread_ts == thread_ts,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def row_by_id(
    session: AsyncSession, team_id: str, experiment_id: int, *, lock: bool = False
) -> ExperimentRow:
    query = select(ExperimentRow).where(
        ExperimentRow.team_id == team_id, ExperimentRow.id == experiment_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise ExperimentNotFound(team_id, experiment_id)
    return row


async def find_by_ref(
    session: AsyncSession, team_id: str, ref: str | int, *, channel_id: str | None = None
) -> ExperimentRow | None:
    """By number (``EXP-12``, ``12``), else by name: exact (any case), else one partial match.

    Names are matched in the whole team; with ``channel_id`` that channel's experiments come first.
    """
    number = ref if isinstance(ref, int) else parse_ref(ref)
    if number is not None:
        query = select(ExperimentRow).where(
            ExperimentRow.team_id == team_id, ExperimentRow.number == number
        )
        return (await session.execute(query)).scalar_one_or_none()
    text = str(ref).strip().lower()
    if not text:
        return None
    base = select(ExperimentRow).where(ExperimentRow.team_id == team_id)
    if channel_id is not None:
        base = base.order_by((ExperimentRow.channel_id == channel_id).desc())
    base = base.order_by(ExperimentRow.created_at.desc(), ExperimentRow.id.desc())
    exact = base.where(func.lower(ExperimentRow.name) == text).limit(1)
    row = (await session.execute(exact)).scalars().first()
    if row is not None:
        return row
    partial = base.where(func.lower(ExperimentRow.name).contains(text, autoescape=True)).limit(2)
    rows = (await session.execute(partial)).scalars().all()
    return rows[0] if len(rows) == 1 else None


def listing_query(
    team_id: str, *, channel_id: str | None, text: str | None, order: Order
) -> Select[tuple[ExperimentRow]]:
    query = select(ExperimentRow).where(ExperimentRow.team_id == team_id)
    if channel_id is not None:
        query = query.where(ExperimentRow.channel_id == channel_id)
    if text and text.strip():
        needle = text.strip().lower()
        columns = (
            ExperimentRow.name,
            ExperimentRow.hypothesis,
            ExperimentRow.owner,
            ExperimentRow.primary_metric,
            ExperimentRow.target_segment,
        )
        matches = [func.lower(c).contains(needle, autoescape=True) for c in columns]
        number = parse_ref(needle)
        if number is not None:
            matches.append(ExperimentRow.number == number)
        query = query.where(or_(*matches))
    newest = ExperimentRow.updated_at if order == "updated" else ExperimentRow.created_at
    return query.order_by(newest.desc(), ExperimentRow.id.desc())


def teams_query() -> Select[tuple[str]]:
    return select(ExperimentRow.team_id).distinct().order_by(ExperimentRow.team_id)


def backlog_query(team_id: str) -> Select[tuple[ExperimentRow]]:
    return (
        select(ExperimentRow)
        .where(and_(ExperimentRow.team_id == team_id, ExperimentRow.status == "proposed"))
        .order_by(
            ExperimentRow.rice_score.is_(None),
            ExperimentRow.rice_score.desc(),
            ExperimentRow.created_at,
            ExperimentRow.id,
        )
    )


def set_status(row: ExperimentRow, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    row.status = status
    row.updated_at = utcnow()


def apply_charter(row: ExperimentRow, charter: Charter, *, by: str | None) -> list[dict[str, Any]]:
    """Write the charter into the row; after the first look, log changes of locked fields."""
    new = charter_columns(charter)
    at = utcnow()
    changes = []
    if row.look_count > 0:
        for name in LOCKED_FIELDS:
            old_value, new_value = getattr(row, name), new[name]
            if old_value != new_value:
                changes.append(
                    {
                        "field": name,
                        "old": old_value,
                        "new": new_value,
                        "at": at.isoformat(),
                        "by": by,
                    }
                )
    for name, value in new.items():
        setattr(row, name, value)
    if changes:
        row.charter_changes = [*row.charter_changes, *changes]
    row.updated_at = at
    return changes


def charter_columns(charter: Charter) -> dict[str, Any]:
    rice = charter.rice
    return {
        "name": charter.name.strip(),
        "owner": charter.owner,
        "hypothesis": charter.hypothesis,
        "target_segment": charter.target_segment,
        "primary_metric": charter.primary_metric,
        "guardrails": [jsonable(g) for g in charter.guardrails],
        "expected_split": list(charter.expected_split) if charter.expected_split else None,
        "planned_looks": charter.planned_looks,
        "target_sample_size": charter.target_sample_size,
        "method": charter.method,
        "source_env": charter.source_env,
        "source_query": charter.source_query,
        "source_platform": charter.source_platform,
        "refresh_schedule": charter.refresh_schedule,
        "start_date": charter.start_date,
        "end_date": charter.end_date,
        "rice_reach": rice.reach if rice else None,
        "rice_impact": rice.impact if rice else None,
        "rice_confidence": rice.confidence if rice else None,
        "rice_effort": rice.effort if rice else None,
        "rice_score": rice.score if rice else None,
    }


def to_record(row: ExperimentRow) -> ExperimentRecord:
    rice_values = (row.rice_reach, row.rice_impact, row.rice_confidence, row.rice_effort)
    rice = None
    if all(v is not None for v in rice_values):
        rice = Rice(row.rice_reach, row.rice_impact, row.rice_confidence, row.rice_effort)  # type: ignore[arg-type]
    charter = Charter(
        name=row.name,
        owner=row.owner,
        hypothesis=row.hypothesis,
        target_segment=row.target_segment,
        primary_metric=row.primary_metric,
        guardrails=tuple(CharterGuardrail.from_dict(g) for g in row.guardrails or ()),
        expected_split=tuple(row.expected_split) if row.expected_split else None,
        planned_looks=row.planned_looks,
        target_sample_size=row.target_sample_size,
        method=row.method,  # type: ignore[arg-type]
        source_env=row.source_env,
        source_query=row.source_query,
        source_platform=row.source_platform,
        refresh_schedule=_usable_schedule(row),
        start_date=row.start_date,
        end_date=row.end_date,
        rice=rice,
    )
    return ExperimentRecord(
        id=row.id,
        number=row.number,
        team_id=row.team_id,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        charter=charter,
        status=row.status,  # type: ignore[arg-type]
        outcome=row.outcome,  # type: ignore[arg-type]
        rice_score=row.rice_score,
        look_count=row.look_count,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        charter_changes=tuple(CharterChange.from_dict(c) for c in row.charter_changes or ()),
    )


def _usable_schedule(row: ExperimentRow) -> str | None:
    """The stored schedule, or None when it no longer passes the checks (reading never fails)."""
    if row.refresh_schedule is None or (row.source_env is None and row.source_platform is None):
        return None
    try:
        return parse_schedule(row.refresh_schedule).text
    except ScheduleError:
        return None


def touch(experiment_id: int, **values: Any) -> Any:
    """An UPDATE of the experiment's ``updated_at`` (and ``values``)."""
    values.setdefault("updated_at", utcnow())
    return update(ExperimentRow).where(ExperimentRow.id == experiment_id).values(**values)
