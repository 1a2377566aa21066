"""The one vocabulary every reader produces: per-group sufficient statistics of a results file.

A reader (aggregated CSV with pandas, user-level CSV through DuckDB, a SQL warehouse next) turns
its source into a :class:`StatsTable`; ``ingest.arms`` alone turns that table into
``ExperimentData``. Nothing here knows pandas or DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

from experimentos.model import (
    ArmInput,
    DayCount,
    DimensionCell,
    Finding,
    MetricKind,
    QuantileStats,
    SourceInfo,
)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One arm in one segment ('' when the file has no segment column), as the source gives it."""

    segment: str
    stats: ArmInput
    """Users, conversions, counts, means, covariates and ratios of the group."""

    @property
    def arm(self) -> str:
        return self.stats.arm


@dataclass(frozen=True, slots=True)
class StatsTable:
    """Everything a reader found in one source, before arms are pooled."""

    source: SourceInfo
    primary: str
    """The primary metric's column: the one read, or the one looked for when it is missing."""
    findings: tuple[Finding, ...]
    groups: tuple[GroupStats, ...] = ()
    """In the order the groups first appear in the source."""
    rows_read: bool = True
    """False when the source was refused before its rows were read (the findings say why)."""
    guardrails: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    """Other count metrics, reported only."""
    means: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ()
    quantiles: tuple[QuantileStats, ...] = ()
    date_column: str | None = None
    by_day: tuple[DayCount, ...] = ()
    dimensions: tuple[DimensionCell, ...] = ()
    primary_kind: MetricKind = "proportion"
    """A 0/1 primary, or a continuous (``mean``) or ``ratio`` one read from the metric sums."""


def refused(source: SourceInfo, findings: list[Finding], *, primary: str) -> StatsTable:
    """A table of a source whose rows were not read: only its findings."""
    return StatsTable(source, primary, tuple(findings), rows_read=False)
