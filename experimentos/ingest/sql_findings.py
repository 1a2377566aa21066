"""What a query's summary rows say about its cells and units, as findings (no line numbers: a
query's rows have none, so each names its column and a count)."""

from __future__ import annotations

from typing import Any

from experimentos.ingest.userlevel_queries import Layout
from experimentos.ingest.userlevel_sums import MetricColumns
from experimentos.model import Finding, Thresholds


def cell_findings(layout: Layout, metrics: MetricColumns, summary: dict[str, Any]) -> list[Finding]:
    """Rows without a variant or primary (left out, Blocked), guardrail counts that are negative
    or not whole (Blocked), blank counts read as 0 (Warning), guardrails that cannot be checked."""
    names = layout.names
    findings = []
    empty = [
        (names[layout.variant], summary["empty_variant"]),
        (layout.primary, summary["empty_primary"]),
    ]
    for column, count in empty:
        if count:
            message = f"{count} row(s) have no {column} value."
            findings.append(Finding("blocked", "empty_cell", message, column=column))
    for i in metrics.numeric:
        if i in metrics.guardrails and summary.get(f"nc{i}"):
            message = (
                f"{summary[f'nc{i}']} row(s) have a {names[i]} count that is negative or not whole."
            )
            findings.append(Finding("blocked", "not_a_count", message, column=names[i]))
    kept = int(summary["kept"])
    for i in metrics.counted():
        blanks = kept - int(summary.get(f"kf{i}") or 0)
        if kept and blanks > 0:
            findings.append(
                Finding(
                    "warning",
                    "blank_read_as_zero",
                    f"{blanks} row(s) have no {names[i]} value: they were read as 0 (no event), "
                    "as a left join of users to events leaves them. If a blank means the value "
                    "is unknown, fix the query (coalesce to 0 where there was no event).",
                    column=names[i],
                )
            )
    measured = {*metrics.binary, *metrics.numeric}
    roles = {layout.user, layout.variant, layout.segment}
    for i in range(len(names)):
        if i in roles or not layout.is_guardrail(i) or i in measured or not kept:
            continue
        named = names[i] in layout.named_guardrails
        problem = (
            f"has no value in any of the {kept} row(s)"
            if layout.kinds[i] == "empty"
            else "has values that are neither 0/1 nor numbers"
        )
        findings.append(
            Finding(
                "blocked" if named else "warning",
                "guardrail_not_checked",
                f"Guardrail {names[i]} {problem}: it is not checked, and no verdict covers it.",
                column=names[i],
            )
        )
    return findings


def user_findings(layout: Layout, counts: dict[str, Any], thresholds: Thresholds) -> list[Finding]:
    """Units of one variant on several rows (merged, Info); units in several variants (left out)."""
    user = layout.names[layout.user]
    findings = []
    if counts["repeated"]:
        findings.append(
            Finding(
                "info",
                "repeated_user_rows",
                f"{counts['repeated']:,} users appear on more than one row of the same variant "
                f"({int(counts['repeated_rows']):,} rows); each was counted once, its rows merged: "
                "a 0/1 metric is 1 if any row has 1, a number is the sum of its rows.",
                column=user,
            )
        )
    crossed, users = int(counts["crossed"]), int(counts["users"])
    if crossed:
        share = crossed / users
        findings.append(
            Finding(
                "blocked" if share > thresholds.duplicate_user_blocked_share else "warning",
                "user_in_several_variants",
                f"{crossed} users ({share:.2%}) appear in more than one variant; they were left "
                "out of the analysis. Check the assignment.",
                column=user,
            )
        )
    return findings


def outlier(column: str, counts: dict[str, Any], i: int) -> Finding:
    largest, median, cap = (float(counts[f"{k}{i}"]) for k in ("max", "med", "cap"))
    return Finding(
        "info",
        "extreme_outlier",
        f"{column} has an extreme outlier: {largest:,.0f} against a median of {median:,.0f} and "
        f"a 99.9th percentile of {cap:,.0f}. The metric is also reported capped at {cap:,.0f}.",
        column=column,
    )
