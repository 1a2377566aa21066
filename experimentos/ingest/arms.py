"""The one mapper from a reader's :class:`StatsTable` to ``ExperimentData``, and the checks every
reader shares: header problems, a cell's finding, moments no data could have, ratio options.

Arms are pooled over segments by ``ArmInput.__add__`` (pooling lives on the types).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable

from experimentos.ingest.columns import USER_ALIASES, VARIANT_ALIASES, normalise_header
from experimentos.ingest.stats_table import GroupStats, StatsTable
from experimentos.model import ArmInput, ExperimentData, Finding, Options, RatioSpec

ROUNDING = 1e-9
"""Relative slack for moments computed in floating point by the exporting tool."""


def experiment_data(table: StatsTable, *, options: Options) -> ExperimentData:
    """Pool the table's groups per arm (over segments), in the order arms first appear."""
    if not table.rows_read:
        return ExperimentData(
            source=table.source,
            control=options.control,
            arms=(),
            guardrail_columns=(),
            secondary_count_columns=(),
            mean_columns=(),
            findings=table.findings,
            primary_name=table.primary,
        )
    by_segment: dict[str, list[ArmInput]] = {}
    for group in table.groups:
        if group.segment:
            by_segment.setdefault(group.segment, []).append(group.stats)
    arms = pooled_arms(table.groups)
    return ExperimentData(
        source=table.source,
        control=options.control or "control",
        arms=arms,
        guardrail_columns=table.guardrails,
        secondary_count_columns=table.secondary,
        mean_columns=table.means,
        findings=(*table.findings, *primary_findings(table, arms)),
        segments=tuple((name, tuple(arms)) for name, arms in by_segment.items()),
        primary_name=table.primary,
        primary_kind=table.primary_kind,
        ratio_columns=table.ratios,
        dimensions=table.dimensions,
        quantiles=table.quantiles,
        date_column=table.date_column,
        by_day=table.by_day,
    )


def primary_findings(table: StatsTable, arms: tuple[ArmInput, ...]) -> list[Finding]:
    """A continuous or ratio primary that an arm lacks (its sums could not be read) blocks the
    analysis; users of a continuous primary with no value are left out of its mean, said here."""
    if table.primary_kind == "proportion":
        return []
    name, findings = table.primary, []
    stats = {a.arm: a.means if table.primary_kind == "mean" else a.ratios for a in arms}
    lacking = [arm for arm, by_name in stats.items() if name not in by_name]
    if lacking:
        message = (
            f"The primary metric {name!r} could not be read for {', '.join(map(repr, lacking))} "
            "(see the other findings): there is no primary to decide on."
        )
        return [Finding("blocked", "missing_primary", message, column=name)]
    method = "Welch's t-test" if table.primary_kind == "mean" else "the delta method"
    findings.append(
        Finding(
            "info",
            "continuous_primary",
            f"The primary {name} is not 0/1: it is analysed as a {table.primary_kind} metric "
            f"({method}), its lift in its own units.",
            column=name,
        )
    )
    if table.primary_kind == "mean":
        blank = sum(a.users - a.means[name].n for a in arms)
        if blank > 0:
            findings.append(
                Finding(
                    "warning",
                    "primary_blank",
                    f"{blank:,} users have no {name} value: the primary's mean is over the users "
                    "with a value. If a blank means 0, write 0 in the export.",
                    column=name,
                )
            )
    return findings


def pooled_arms(groups: Iterable[GroupStats]) -> tuple[ArmInput, ...]:
    """One ArmInput per arm, the sum of its groups, in the order arms first appear."""
    pooled: dict[str, ArmInput] = {}
    for group in groups:
        pooled[group.arm] = pooled[group.arm] + group.stats if group.arm in pooled else group.stats
    return tuple(pooled.values())


def header_findings(raw_columns: list[str]) -> list[Finding]:
    """Columns without a name, and names written twice (the header as written, line 1).

    A first column without a name is the row index pandas' ``to_csv`` writes: the readers leave it
    out and say so (``columns.not_a_metric``), it blocks nothing.
    """
    seen: dict[str, int] = {}
    findings = []
    for position, raw in enumerate(raw_columns, start=1):
        name = normalise_header(str(raw))
        if position == 1 and len(raw_columns) > 1 and name in ("", "unnamed: 0"):
            continue
        if re.fullmatch(r"unnamed: \d+", name) or not name:
            findings.append(
                Finding("blocked", "empty_header", f"Column {position} has no name.", row=1)
            )
        elif name in seen:
            findings.append(
                Finding(
                    "blocked",
                    "duplicate_column",
                    f"Column {name!r} appears twice (columns {seen[name]} and {position}).",
                    row=1,
                    column=name,
                )
            )
        else:
            seen[name] = position
    return findings


def missing_unit_column(
    columns: Iterable[str],
    *,
    user: str | None,
    variant: str | None,
    has: str,
    row: int | None = None,
) -> Finding:
    """A user-level source without its user or variant column (one of them is None): the Blocked
    finding that names the aliases and the columns it ``has`` ("the file has", "the query
    returns")."""
    what = "variant" if variant is None else "user_id"
    aliases = VARIANT_ALIASES if what == "variant" else USER_ALIASES
    message = (
        f"No {what} column: name one of {', '.join(aliases)}, or say which column it is "
        f"({has}: {', '.join(columns)})."
    )
    return Finding("blocked", "missing_column", message, row=row, column=what)


def row_finding(code: str, message: str, line: int, column: str | None) -> Finding:
    """A blocking problem with one cell of an aggregated file, its line named first."""
    return Finding("blocked", code, f"Line {line}: {message}", row=line, column=column)


def below_least_sum_of_squares(n: int, total: float, total_sq: float) -> bool:
    """Σx² < (Σx)²/n, beyond rounding: moments no data could have.

    Compared without forming n·Σx² or (Σx)², which overflow near 1e154.
    """
    return total_sq < total / n * total * (1 - ROUNDING)


def ratio_option_findings(
    options: Options,
    analysed: Collection[str],
    problem: Callable[[RatioSpec], tuple[str, int | None, str | None]],
) -> list[Finding]:
    """A warning for each ratio of the options that is not analysed; ``problem`` says why
    (the reason, and the line and column the finding points at)."""
    findings = []
    for spec in options.ratios:
        if spec.name in analysed:
            continue
        reason, row, column = problem(spec)
        findings.append(
            Finding(
                "warning",
                "ratio_column",
                f"Ratio {spec.name} ({spec.numerator} / {spec.denominator}) is not analysed: "
                f"{reason}.",
                row=row,
                column=column,
            )
        )
    return findings
