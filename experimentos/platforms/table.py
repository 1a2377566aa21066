"""A platform's results → the StatsTable every reader produces, and the cross-check lines that say
where our figures and the platform's differ and why.

The primary is the metric ``options.primary`` names (by key or by the platform's name), else the
platform's first goal metric. 0/1 metrics measured on every user of the arm become counts (so a
platform guardrail is checked by our guardrail rules); every other metric becomes n, Σx, Σx².
Arm labels are casefolded, as every reader does.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable

from experimentos.errors import ExperimentError
from experimentos.ingest.stats_table import GroupStats, StatsTable
from experimentos.model import (
    Analysis,
    ArmInput,
    Finding,
    MeanStats,
    MetricResult,
    Options,
    SourceInfo,
    jsonable,
)
from experimentos.platforms.base import PlatformMetric, PlatformResults, slug


def checksum(results: PlatformResults) -> str:
    """SHA-256 of the figures read (as JSON, keys sorted): which numbers a look was made of."""
    text = json.dumps(jsonable(results), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def primary_metric(results: PlatformResults, options: Options) -> PlatformMetric:
    if not results.metrics:
        raise ExperimentError(
            f"{results.platform} experiment {results.experiment!r} has no metric results yet: "
            f"wait for {results.platform} to compute them, then pull again."
        )
    if options.primary:
        wanted = slug(options.primary)
        for metric in results.metrics:
            if wanted in (metric.key, slug(metric.label)):
                return metric
        names = ", ".join(m.key for m in results.metrics)
        raise ExperimentError(
            f"{results.platform} experiment {results.experiment!r} has no metric "
            f"{options.primary!r}; its metrics are {names}."
        )
    return next((m for m in results.metrics if m.role == "goal"), results.metrics[0])


Group = tuple[str, str]
"""(segment, variant)."""


def _group_users(primary: PlatformMetric) -> dict[Group, int]:
    """Users per group: the units the platform counted for the primary metric (Statsig may count
    fewer "participating" units for other metrics)."""
    return {(v.segment, v.variant): v.n for v in primary.variants}


def stats_table(results: PlatformResults, options: Options) -> StatsTable:
    """The per-variant statistics of ``results`` as one StatsTable (a group per variant, or per
    dimension value and variant)."""
    primary = primary_metric(results, options)
    users = _group_users(primary)
    conversions = {(v.segment, v.variant): round(v.total) for v in primary.variants}
    findings = list(results.findings)
    counts: dict[Group, dict[str, int]] = {g: {} for g in users}
    means: dict[Group, dict[str, MeanStats]] = {g: {} for g in users}
    guardrails, secondary, mean_names = [], [], []
    for metric in results.metrics:
        if metric.note:
            findings.append(
                Finding(
                    "info", "platform_metric", f"{metric.key}: {metric.note}", column=metric.key
                )
            )
        if metric is primary and metric.kind == "proportion":
            continue
        stats = {(v.segment, v.variant): v for v in metric.variants}
        if missing := sorted({g[1] for g in users if g not in stats}):
            findings.append(
                Finding(
                    "warning",
                    "platform_metric",
                    f"{metric.key}: {results.platform} gives no figures for "
                    f"{', '.join(missing)}; left out.",
                    column=metric.key,
                )
            )
            continue
        whole = all(stats[g].n == n for g, n in users.items())
        if metric is not primary and metric.kind == "proportion" and whole:
            for g in users:
                counts[g][metric.key] = round(stats[g].total)
            (guardrails if metric.role == "guardrail" else secondary).append(metric.key)
            continue
        if metric.role == "guardrail":
            findings.append(
                Finding(
                    "info",
                    "platform_guardrail",
                    f"{metric.key} is a {results.platform} guardrail but not a 0/1 metric of "
                    "every user: reported with the secondary metrics, not checked as a guardrail.",
                    column=metric.key,
                )
            )
        for g in users:
            v = stats[g]
            means[g][metric.key] = MeanStats(v.n, v.total, v.total_sq)
        if metric is not primary:
            mean_names.append(metric.key)
    groups = tuple(
        GroupStats(
            segment.casefold(),
            ArmInput(
                arm=variant.casefold(),
                users=n,
                conversions=conversions.get((segment, variant), 0)
                if primary.kind == "proportion"
                else 0,
                counts=counts[(segment, variant)],
                means=means[(segment, variant)],
            ),
        )
        for (segment, variant), n in users.items()
    )
    source = SourceInfo(
        f"{results.platform.lower()}:{results.experiment}",
        checksum(results),
        rows=len(groups),
        input_format="aggregated",
        size_bytes=0,
    )
    return StatsTable(
        source=source,
        primary=primary.key,
        findings=tuple(findings),
        groups=groups,
        guardrails=tuple(guardrails),
        secondary=tuple(secondary),
        means=tuple(mean_names),
        primary_kind="proportion" if primary.kind == "proportion" else "mean",
    )


# --------------------------------------------------------------------------- cross-checks


def _percent(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _interval(ci: tuple[float, float] | None) -> str:
    if ci is None or not all(math.isfinite(x) for x in ci):
        return ""
    return f" [{_percent(ci[0])}, {_percent(ci[1])}]"


def _ours(analysis: Analysis) -> Iterable[MetricResult]:
    yield from analysis.primary
    yield from (g.metric for g in analysis.guardrails)
    yield from analysis.secondary


def cross_check(results: PlatformResults, analysis: Analysis) -> tuple[Finding, ...]:
    """One info finding per metric and variant the platform compared: its relative lift and
    interval next to ours, and the two methods by name (why they may differ)."""
    ours = {(m.name, m.arm): m for m in _ours(analysis)}
    findings = []
    for metric in results.metrics:
        for lift in metric.lifts:
            mine = ours.get((metric.key, lift.variant.casefold()))
            if mine is None or lift.relative is None:
                continue
            c = mine.comparison
            theirs = f"{results.platform} ({lift.method}) {_percent(lift.relative)}"
            theirs += _interval(lift.relative_ci)
            if lift.p_value is not None:
                theirs += f", p={lift.p_value:.3g}"
            mine_text = f"ours ({c.method}) {_percent(c.rel_lift)}{_interval(c.rel_ci)}"
            mine_text += f", p={c.p_value:.3g}"
            if _p_values_differ(lift.p_value, c.p_value) and "relative" in lift.method:
                mine_text += (
                    f" (the p-values differ because {results.platform}'s tests the relative lift "
                    "with its delta-method standard error, ours the difference itself)"
                )
            findings.append(
                Finding(
                    "info",
                    "platform_cross_check",
                    f"{metric.key}, {lift.variant.casefold()} vs {results.control.casefold()}: "
                    f"{theirs}; {mine_text}.",
                    column=metric.key,
                )
            )
    return tuple(findings)


def _p_values_differ(theirs: float | None, ours: float) -> bool:
    """True when two p-values differ by more than a quarter of the larger (both above 0)."""
    if theirs is None or theirs <= 0 or ours <= 0:
        return False
    return abs(theirs - ours) > 0.25 * max(theirs, ours)
