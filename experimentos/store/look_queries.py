"""Analyses (one per look), decisions and claimed Slack events, over one AsyncSession."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from experimentos.charter import (
    VERDICT_OF_OUTCOME,
    AnalysisBrief,
    AnalysisRecord,
    DecisionRecord,
)
from experimentos.store import experiment_queries as experiments
from experimentos.store.errors import (
    AnalysisNotFound,
    DecisionReasonRequired,
    DuplicateEventError,
    LookCountChanged,
)
from experimentos.store.tables import (
    HEALTH_STATUSES,
    OUTCOMES,
    VERDICTS,
    AnalysisRow,
    DecisionRow,
    ExperimentRow,
    ProcessedEvent,
    utcnow,
)


def check_analysis_fields(*, verdict_kind: str, health_status: str, result_json: Any) -> None:
    if verdict_kind not in VERDICTS:
        raise ValueError(f"verdict_kind must be one of {', '.join(VERDICTS)}, not {verdict_kind!r}")
    if health_status not in HEALTH_STATUSES:
        raise ValueError(
            f"health_status must be one of {', '.join(HEALTH_STATUSES)}, not {health_status!r}"
        )
    if not isinstance(result_json, dict):
        raise TypeError("result_json must be a dict (Analysis.to_dict())")


async def event_already_stored(session: AsyncSession, event_key: str) -> bool:
    query = select(AnalysisRow.id).where(AnalysisRow.event_key == event_key)
    return (await session.execute(query)).first() is not None


async def insert_analysis(
    session: AsyncSession,
    *,
    team_id: str,
    experiment_id: int,
    prior_looks: int | None = None,
    **columns: Any,
) -> AnalysisRow:
    """Take the experiment's next look number and insert the analysis row.

    The UPDATE … RETURNING locks the experiment's row until commit, so concurrent looks at one
    experiment are numbered 1, 2, … without gaps or repeats (and the first look starts it running).
    With ``prior_looks`` (the look count the analysis was made for), raises LookCountChanged when
    the experiment has another count by now; the caller's transaction then stores nothing.
    """
    event_key = columns.get("event_key")
    if event_key is not None and await event_already_stored(session, event_key):
        raise DuplicateEventError(event_key)
    running = case((ExperimentRow.status == "proposed", "running"), else_=ExperimentRow.status)
    bump = experiments.touch(
        experiment_id, look_count=ExperimentRow.look_count + 1, status=running
    ).returning(ExperimentRow.look_count)
    look = (await session.execute(bump.execution_options(synchronize_session=False))).scalar_one()
    if prior_looks is not None and look != prior_looks + 1:
        raise LookCountChanged(experiment_id, look - 1)
    row = AnalysisRow(
        team_id=team_id, experiment_id=experiment_id, look=look, created_at=utcnow(), **columns
    )
    session.add(row)
    await session.flush()
    return row


async def analysis_rows(
    session: AsyncSession, team_id: str, experiment_id: int, *, latest_only: bool = False
) -> list[AnalysisRow]:
    query = select(AnalysisRow).where(
        AnalysisRow.team_id == team_id, AnalysisRow.experiment_id == experiment_id
    )
    if latest_only:
        query = query.order_by(AnalysisRow.look.desc()).limit(1)
    else:
        query = query.order_by(AnalysisRow.look)
    return list((await session.execute(query)).scalars())


async def latest_briefs(
    session: AsyncSession, experiment_ids: list[int]
) -> dict[int, AnalysisBrief]:
    """The latest look of each experiment (the analysis whose look equals the look count)."""
    if not experiment_ids:
        return {}
    query = (
        select(AnalysisRow.experiment_id, *_BRIEF_COLUMNS)
        .join(
            ExperimentRow,
            (ExperimentRow.id == AnalysisRow.experiment_id)
            & (AnalysisRow.look == ExperimentRow.look_count),
        )
        .where(AnalysisRow.experiment_id.in_(experiment_ids))
    )
    rows = (await session.execute(query)).all()
    return {row.experiment_id: AnalysisBrief(*row[1:]) for row in rows}


_BRIEF_COLUMNS = (
    AnalysisRow.id,
    AnalysisRow.look,
    AnalysisRow.verdict_kind,
    AnalysisRow.verdict_reason,
    AnalysisRow.health_status,
    AnalysisRow.file_name,
    AnalysisRow.created_at,
    AnalysisRow.channel_id,
    AnalysisRow.thread_ts,
    AnalysisRow.message_ts,
)


async def insert_decision(
    session: AsyncSession,
    *,
    team_id: str,
    experiment_id: int,
    decision: str,
    user_id: str,
    reason: str | None,
    analysis_id: int | None,
) -> DecisionRow:
    """Record the team's decision against the latest (or the given) look's verdict."""
    if decision not in OUTCOMES:
        raise ValueError(f"decision must be one of {', '.join(OUTCOMES)}, not {decision!r}")
    await experiments.row_by_id(session, team_id, experiment_id, lock=True)
    if analysis_id is None:
        latest = await analysis_rows(session, team_id, experiment_id, latest_only=True)
        analysis = latest[0] if latest else None
    else:
        analysis = await session.get(AnalysisRow, analysis_id)
        if analysis is None or analysis.experiment_id != experiment_id:
            raise AnalysisNotFound(analysis_id)
    bot_verdict = analysis.verdict_kind if analysis else None
    reason = reason.strip() if reason and reason.strip() else None
    if bot_verdict is not None and VERDICT_OF_OUTCOME[decision] != bot_verdict and reason is None:
        raise DecisionReasonRequired(decision, bot_verdict)
    now = utcnow()
    row = DecisionRow(
        team_id=team_id,
        experiment_id=experiment_id,
        analysis_id=analysis.id if analysis else None,
        decision=decision,
        user_id=user_id,
        reason=reason,
        bot_verdict=bot_verdict,
        created_at=now,
    )
    session.add(row)
    outcome_status = ExperimentRow.status if decision == "held" else "completed"
    await session.execute(
        experiments.touch(experiment_id, outcome=decision, status=outcome_status, updated_at=now)
    )
    await session.flush()
    return row


async def decision_rows(
    session: AsyncSession, team_id: str, experiment_ids: list[int], *, latest_only: bool = False
) -> list[DecisionRow]:
    query = select(DecisionRow).where(
        DecisionRow.team_id == team_id, DecisionRow.experiment_id.in_(experiment_ids)
    )
    if latest_only:
        newest = (
            select(func.max(DecisionRow.id))
            .where(DecisionRow.experiment_id.in_(experiment_ids))
            .group_by(DecisionRow.experiment_id)
        )
        query = query.where(DecisionRow.id.in_(newest))
    return list((await session.execute(query.order_by(DecisionRow.id))).scalars())


async def claim_event(session: AsyncSession, team_id: str, event_key: str) -> bool:
    """Insert the event's key; False when some process (this one or another) claimed it before."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(ProcessedEvent)
        .values(team_id=team_id, event_key=event_key, claimed_at=utcnow())
        .on_conflict_do_nothing(index_elements=[ProcessedEvent.team_id, ProcessedEvent.event_key])
        .returning(ProcessedEvent.event_key)
    )
    return (await session.execute(statement)).first() is not None


async def forget_events(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.claimed_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def analysis_record(row: AnalysisRow) -> AnalysisRecord:
    return AnalysisRecord(
        id=row.id,
        experiment_id=row.experiment_id,
        team_id=row.team_id,
        look=row.look,
        file_name=row.file_name,
        checksum=row.checksum,
        health_status=row.health_status,  # type: ignore[arg-type]
        verdict_kind=row.verdict_kind,  # type: ignore[arg-type]
        verdict_reason=row.verdict_reason,
        result=row.result,
        memo_markdown=row.memo_markdown,
        user_id=row.user_id,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        message_ts=row.message_ts,
        event_key=row.event_key,
        created_at=row.created_at,
    )


def decision_record(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        experiment_id=row.experiment_id,
        analysis_id=row.analysis_id,
        decision=row.decision,  # type: ignore[arg-type]
        user_id=row.user_id,
        reason=row.reason,
        bot_verdict=row.bot_verdict,  # type: ignore[arg-type]
        created_at=row.created_at,
    )
