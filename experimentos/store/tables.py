"""ORM tables of the history store (the head schema; migrations/versions/ builds it step by step).

Every row carries the Slack ``team_id``. Timestamps are timezone-aware UTC on the way out whatever
the backend stores. Vocabularies are lower-case strings with CHECK constraints.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

STATUSES = ("proposed", "running", "completed")
RUN_KINDS = ("look", "digest")
OUTCOMES = ("launched", "held", "rolled-back")
VERDICTS = ("launch", "hold", "rollback")
HEALTH_STATUSES = ("healthy", "warning", "blocked")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SlackId = String(64)
JSONDocument = JSON(none_as_null=True)
"""Plain JSON, also on PostgreSQL: JSONB would keep numbers as numeric and give 1e+16 back as an
int, reorder keys and drop duplicates; the store never queries inside these documents."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the history store; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONDocument,
    }


class TeamCounter(Base):
    """The last experiment number handed out in a team (EXP-1, EXP-2, … per team)."""

    __tablename__ = "team_counters"

    team_id: Mapped[str] = mapped_column(SlackId, primary_key=True)
    last_experiment_number: Mapped[int] = mapped_column(Integer, default=0)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        UniqueConstraint("team_id", "channel_id", "thread_ts"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(f"outcome IS NULL OR {_one_of('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint("look_count >= 0", name="look_count"),
        Index(None, "team_id", "channel_id", "created_at"),
        Index(None, "team_id", "status", "rice_score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    number: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(SlackId)
    thread_ts: Mapped[str | None] = mapped_column(SlackId)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    hypothesis: Mapped[str | None] = mapped_column(Text)
    target_segment: Mapped[str | None] = mapped_column(String(200))
    primary_metric: Mapped[str | None] = mapped_column(String(200))
    guardrails: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    expected_split: Mapped[list[float] | None] = mapped_column(JSONDocument)
    planned_looks: Mapped[int | None] = mapped_column(Integer)
    target_sample_size: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str | None] = mapped_column(String(32))
    source_env: Mapped[str | None] = mapped_column(String(128))
    source_query: Mapped[str | None] = mapped_column(Text)
    source_platform: Mapped[str | None] = mapped_column(String(220))
    refresh_schedule: Mapped[str | None] = mapped_column(String(100))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    outcome: Mapped[str | None] = mapped_column(String(16))
    rice_reach: Mapped[float | None] = mapped_column(Float)
    rice_impact: Mapped[float | None] = mapped_column(Float)
    rice_confidence: Mapped[float | None] = mapped_column(Float)
    rice_effort: Mapped[float | None] = mapped_column(Float)
    rice_score: Mapped[float | None] = mapped_column(Float)
    look_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(SlackId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    charter_changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)


class AnalysisRow(Base):
    """One look at an experiment: the full result, its memo, and where the card was posted."""

    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("experiment_id", "look"),
        CheckConstraint("look >= 1", name="look"),
        CheckConstraint(_one_of("health_status", HEALTH_STATUSES), name="health_status"),
        CheckConstraint(_one_of("verdict_kind", VERDICTS), name="verdict_kind"),
        Index(None, "team_id", "created_at"),
        Index(None, "event_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    look: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(128))
    health_status: Mapped[str] = mapped_column(String(16))
    verdict_kind: Mapped[str] = mapped_column(String(16))
    verdict_reason: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    memo_markdown: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(SlackId)
    channel_id: Mapped[str | None] = mapped_column(SlackId)
    thread_ts: Mapped[str | None] = mapped_column(SlackId)
    message_ts: Mapped[str | None] = mapped_column(SlackId)
    event_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DecisionRow(Base):
    """What the team decided, who, when, and the bot's verdict at that moment."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(_one_of("decision", OUTCOMES), name="decision"),
        CheckConstraint(
            f"bot_verdict IS NULL OR {_one_of('bot_verdict', VERDICTS)}", name="bot_verdict"
        ),
        Index(None, "experiment_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(SlackId)
    reason: Mapped[str | None] = mapped_column(Text)
    bot_verdict: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Slack events already taken by some bot process: the first INSERT wins, the rest skip."""

    __tablename__ = "processed_events"

    team_id: Mapped[str] = mapped_column(SlackId, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ScheduledRun(Base):
    """One scheduled job's due time, claimed by the first bot process to insert it: the unique
    (kind, subject, due_at) lets exactly one process run a scheduled look or digest."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "due_at"),
        CheckConstraint(_one_of("kind", RUN_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    """The experiment's id (a look) or ``team:channel`` (a digest)."""
    due_at: Mapped[datetime] = mapped_column()
    claimed_by: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str | None] = mapped_column(Text)
