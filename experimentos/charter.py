"""The domain records the history store persists and returns (never ORM rows): the charter a team
plans before seeing data, experiments, stored looks and decisions.

Vocabularies: experiment status ``proposed | running | completed``; a team's decision (also the
experiment's outcome) ``launched | held | rolled-back``; the bot's verdict ``launch | hold |
rollback``. Experiments are numbered per team and shown as ``EXP-<number>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Literal, get_args

from experimentos.model import Analysis, HealthStatus, InferenceMethod, VerdictKind, jsonable
from experimentos.model_json import analysis_from_dict
from experimentos.schedule import parse_schedule

Status = Literal["proposed", "running", "completed"]
Outcome = Literal["launched", "held", "rolled-back"]

VERDICT_OF_OUTCOME: Mapping[str, VerdictKind] = {
    "launched": "launch",
    "held": "hold",
    "rolled-back": "rollback",
}
LOCKED_FIELDS = (
    "primary_metric",
    "guardrails",
    "expected_split",
    "planned_looks",
    "target_sample_size",
    "method",
)
"""Charter fields whose change after the first look is recorded and flagged (the charter lock)."""

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
"""An environment variable's name: what a charter's data source stores instead of the URL."""
PLATFORM_SOURCE = re.compile(r"(growthbook|statsig):[^\s`<>&|]{1,200}")
"""A platform experiment a charter reads its looks from: ``growthbook:EXP_KEY``,
``statsig:EXP_ID`` (Hackle publishes no results API, so it cannot be a saved source)."""
REF_PREFIX = "EXP-"
_REF = re.compile(r"^\s*(?:exp[-\s_]?|#)?(\d{1,9})\s*$", re.IGNORECASE)


def parse_ref(text: str) -> int | None:
    """The experiment number in ``EXP-12``, ``exp12``, ``#12`` or ``12``; None for anything else."""
    match = _REF.match(text)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class CharterGuardrail:
    """A guardrail as the charter declares it; thresholds in percentage points, margin relative."""

    name: str
    higher_is_better: bool = False
    worsened_pp: float | None = None
    severe_pp: float | None = None
    margin_rel: float | None = None
    """Non-inferiority margin, e.g. 0.01: the rate may not drop (or rise) by more than 1%."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a guardrail needs a name")
        for label in ("worsened_pp", "severe_pp", "margin_rel"):
            value = getattr(self, label)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"guardrail {self.name}: {label} must be a number ≥ 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CharterGuardrail:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True, slots=True)
class Rice:
    """RICE prioritisation: reach (users per period), impact (e.g. 0.25–3), confidence (0–1), effort
    (person-months). Score = reach × impact × confidence ÷ effort (Intercom's formula)."""

    reach: float
    impact: float
    confidence: float
    effort: float

    def __post_init__(self) -> None:
        values = (self.reach, self.impact, self.confidence, self.effort)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("RICE values must be finite numbers")
        if self.reach < 0 or self.impact < 0:
            raise ValueError("RICE reach and impact must be ≥ 0")
        if not 0 <= self.confidence <= 1:
            raise ValueError("RICE confidence is a fraction between 0 and 1 (80% is 0.8)")
        if self.effort <= 0:
            raise ValueError("RICE effort must be > 0")

    @property
    def score(self) -> float:
        return self.reach * self.impact * self.confidence / self.effort


@dataclass(frozen=True, slots=True)
class Charter:
    """What the team plans before seeing data (``/experiment new``)."""

    name: str
    owner: str | None = None
    hypothesis: str | None = None
    target_segment: str | None = None
    primary_metric: str | None = None
    guardrails: tuple[CharterGuardrail, ...] = ()
    expected_split: tuple[float, ...] | None = None
    planned_looks: int | None = None
    target_sample_size: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    rice: Rice | None = None
    method: InferenceMethod | None = None
    """How looks are analysed; None: group-sequential when looks are planned, else always-valid."""
    source_env: str | None = None
    """The NAME of the environment variable holding the warehouse URL (never the URL itself)."""
    source_query: str | None = None
    """The user-level SQL query each ``/experiment refresh`` runs on that source."""
    source_platform: str | None = None
    """Instead of a warehouse query: the platform experiment (``growthbook:EXP_KEY``) whose
    latest results each refresh analyses; the API key stays in the bot's environment."""
    refresh_schedule: str | None = None
    """When the bot refreshes the source by itself (``daily 09:00``, a crontab; UTC): the
    normalized text of :func:`experimentos.schedule.parse_schedule`. Needs a data source."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an experiment needs a name")
        if (self.source_env is None) != (self.source_query is None):
            raise ValueError("a data source needs both the variable name and the query")
        if self.source_env is not None and not ENV_NAME.fullmatch(self.source_env):
            raise ValueError(
                f"{self.source_env[:64]!r} is not an environment variable name (e.g. WAREHOUSE_URL)"
            )
        if self.source_platform is not None:
            if self.source_env is not None:
                raise ValueError("a charter has one data source: a warehouse query or a platform")
            if not PLATFORM_SOURCE.fullmatch(self.source_platform):
                raise ValueError(
                    f"{self.source_platform[:64]!r} is not a platform experiment "
                    "(growthbook:EXP_KEY or statsig:EXP_ID)"
                )
        if self.refresh_schedule is not None:
            if not self.has_source:
                raise ValueError(
                    "a refresh schedule needs a data source (a variable and query, or a platform)"
                )
            parse_schedule(self.refresh_schedule)  # ScheduleError is a ValueError
        if self.method is not None and self.method not in get_args(InferenceMethod):
            raise ValueError(f"unknown method {self.method!r}")
        for label in ("name", "owner", "target_segment", "primary_metric"):
            value = getattr(self, label)
            if value is not None and len(value) > 200:
                raise ValueError(f"{label.replace('_', ' ')} has at most 200 characters")
        if self.expected_split is not None and (
            len(self.expected_split) < 2
            or not all(math.isfinite(s) and s > 0 for s in self.expected_split)
        ):
            raise ValueError("the expected split needs two or more positive shares, e.g. 50/50")
        for label in ("planned_looks", "target_sample_size"):
            value = getattr(self, label)
            if value is not None and value < 1:
                raise ValueError(f"{label.replace('_', ' ')} must be at least 1")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("the end date is before the start date")

    @property
    def has_source(self) -> bool:
        """True when ``/experiment refresh`` has something to run: a query or a platform."""
        return self.source_env is not None or self.source_platform is not None


@dataclass(frozen=True, slots=True)
class CharterChange:
    """A locked charter field changed after data was seen."""

    field: str
    old: Any
    new: Any
    at: datetime
    by: str | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CharterChange:
        return cls(
            field=data["field"],
            old=data.get("old"),
            new=data.get("new"),
            at=datetime.fromisoformat(data["at"]),
            by=data.get("by"),
        )


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: int
    """Database key; callers show :attr:`ref` instead."""
    number: int
    team_id: str
    channel_id: str
    thread_ts: str | None
    charter: Charter
    status: Status
    outcome: Outcome | None
    rice_score: float | None
    look_count: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    charter_changes: tuple[CharterChange, ...] = ()

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.number}"

    @property
    def name(self) -> str:
        return self.charter.name

    @property
    def changed_after_first_look(self) -> bool:
        return bool(self.charter_changes)


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """One stored look; ``result`` is the full ``Analysis.to_dict()`` (a fresh copy per read)."""

    id: int
    experiment_id: int
    team_id: str
    look: int
    file_name: str
    checksum: str
    health_status: HealthStatus
    verdict_kind: VerdictKind
    verdict_reason: str
    result: dict[str, Any] = field(repr=False)
    memo_markdown: str | None = field(repr=False)
    user_id: str | None
    channel_id: str | None
    thread_ts: str | None
    message_ts: str | None
    event_key: str | None
    created_at: datetime

    def analysis(self) -> Analysis | None:
        """The look rebuilt as the typed result tree every renderer reads (None for a stored look
        whose JSON no longer fits the model); read a stored look only through this."""
        try:
            return analysis_from_dict(self.result)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class AnalysisBrief:
    """The latest look of an experiment as a listing shows it (no result JSON, no memo)."""

    id: int
    look: int
    verdict_kind: VerdictKind
    verdict_reason: str
    health_status: HealthStatus
    file_name: str
    created_at: datetime
    channel_id: str | None
    thread_ts: str | None
    message_ts: str | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    experiment_id: int
    analysis_id: int | None
    decision: Outcome
    user_id: str
    reason: str | None
    bot_verdict: VerdictKind | None
    created_at: datetime

    @property
    def against_verdict(self) -> bool:
        return (
            self.bot_verdict is not None and VERDICT_OF_OUTCOME[self.decision] != self.bot_verdict
        )


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    """A listing line: the experiment, its latest look and the latest recorded decision."""

    experiment: ExperimentRecord
    latest: AnalysisBrief | None
    decision: DecisionRecord | None

    def to_dict(self) -> dict[str, Any]:
        data = jsonable(self)
        data["experiment"] = {
            "ref": self.experiment.ref,
            "name": self.experiment.name,
            **data["experiment"],
        }
        return data


@dataclass(frozen=True, slots=True)
class ScheduledRunRecord:
    """A scheduled look (``kind`` 'look', ``subject`` the experiment's id) or digest ('digest',
    ``team:channel``) due at ``due_at`` and claimed by one bot process; ``outcome`` once done."""

    kind: str
    subject: str
    due_at: datetime
    claimed_by: str
    claimed_at: datetime
    outcome: str | None
