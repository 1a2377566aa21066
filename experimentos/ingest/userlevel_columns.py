"""Which columns of a user-level file are tested as metrics, decided from the header and the
sampled head before DuckDB reads the file: identifiers, dates, times of day, weekdays, row numbers
and text never are; with the metrics option, only the columns it names (besides the primary,
guardrails and ratio parts). Every column left out is said once, in one info finding."""

from __future__ import annotations

from dataclasses import replace

from experimentos.ingest.columns import is_pre_period, not_a_metric, untested_message
from experimentos.ingest.duckdb_csv import ConversionFailed
from experimentos.ingest.sniff import Head
from experimentos.ingest.userlevel_queries import Layout
from experimentos.ingest.userlevel_sums import MetricColumns
from experimentos.model import Finding

_ROLES = ("user", "arm", "segment")


def without_non_metrics(layout: Layout, head: Head, *, metrics: tuple[str, ...] | None) -> Layout:
    """The layout with every column that is not an outcome read as text (never aggregated), and
    the reason for each in ``Layout.skipped``."""
    rows = [r for r in head.rows if len(r) == len(layout.names)]
    kept = {layout.index(layout.primary), *(i for _, x, y in layout.ratios for i in (x, y))}
    kinds = list(layout.kinds)
    skipped: list[tuple[str, str]] = []
    for i, name in enumerate(layout.names):
        if kinds[i] in _ROLES or i in kept or layout.is_guardrail(i) or is_pre_period(name):
            continue
        if metrics is not None:
            why = None if name in metrics else "not named in metrics"
        else:
            why = not_a_metric(name, [r[i] for r in rows], position=i)
        if why:
            kinds[i] = "text"
            skipped.append((name, why))
    return replace(layout, kinds=tuple(kinds), skipped=tuple(skipped))


def untested_finding(layout: Layout, metrics: MetricColumns) -> Finding | None:
    """One info finding naming every column not tested and why; None when all were."""
    measured = {*metrics.binary, *metrics.numeric}
    ratio_parts = {i for _, x, y in layout.ratios for i in (x, y)}
    decided = {name for name, _ in layout.skipped}
    text = [
        (name, "text")
        for i, name in enumerate(layout.names)
        if layout.kinds[i] not in _ROLES
        and name not in decided
        and i not in measured
        and i not in ratio_parts
        and not layout.is_guardrail(i)
        and not is_pre_period(name)
    ]
    skipped = [*layout.skipped, *text]
    if not skipped:
        return None
    return Finding(
        "info", "columns_not_tested", untested_message(skipped), row=1, column=skipped[0][0]
    )


def missing_metrics_finding(layout: Layout, metrics: tuple[str, ...] | None) -> Finding | None:
    """Metrics the option names that the file does not have."""
    missing = [m for m in metrics or () if m not in layout.names]
    if not missing:
        return None
    return Finding(
        "warning",
        "metric_not_found",
        f"metrics names {', '.join(missing)}, which the file does not have (it has: "
        f"{', '.join(n or '(unnamed)' for n in layout.names)}): not tested.",
        row=1,
        column=missing[0],
    )


def not_a_number(layout: Layout, failure: ConversionFailed) -> Layout:
    """After a number column turned out to hold a word: said with the cell and its line."""
    i = failure.column
    if i is None or layout.kinds[i] != "text" or layout.names[i] in dict(layout.skipped):
        return layout
    at = f" at line {failure.line}" if failure.line else ""
    why = f"not a number: {failure.value.strip()[:40]!r}{at}"
    return replace(layout, skipped=(*layout.skipped, (layout.names[i], why)))
