"""What a user-level file's first pass says about its cells: empty variant or primary cells,
guardrail counts that are not counts, blank cells read as 0, guardrails that cannot be checked,
ratios asked for that cannot be analysed, a user's repeated rows and a missing primary.

Each finding names the first lines where it holds (DuckDB stops scanning there).
"""

from __future__ import annotations

import duckdb

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.arms import ratio_option_findings
from experimentos.ingest.duckdb_csv import CsvFile
from experimentos.ingest.userlevel_queries import Layout, classify
from experimentos.ingest.userlevel_sums import (
    GroupSums,
    MetricColumns,
    blank_labels,
    kept_groups,
    label,
    total,
)
from experimentos.model import Finding, Options, RatioSpec, RepeatedRule


def ratio_findings(layout: Layout, metrics: MetricColumns, options: Options) -> list[Finding]:
    """A ratio asked for whose columns are missing or not numeric: reported, not analysed."""
    analysed = {layout.ratios[k][0] for k in metrics.ratios}

    def problem(spec: RatioSpec) -> tuple[str, int | None, str | None]:
        missing = [c for c in (spec.numerator, spec.denominator) if c not in layout.names]
        if missing:
            return f"the file has no {' or '.join(map(repr, missing))} column", None, missing[0]
        return "both of its columns must be numbers or 0/1 for every user", None, spec.numerator

    return ratio_option_findings(options, analysed, problem)


def repeated_users_finding(
    counts: q.UserCounts, layout: Layout, *, rule: RepeatedRule = "sum", order_by: int | None = None
) -> Finding:
    """Users of one arm on several rows count once each, by the rule chosen: said, never silent."""
    repeated, rows = counts.repeated, counts.repeated_rows
    unit = layout.names[layout.user]
    if rule == "first":
        by = (
            f"earliest {layout.names[order_by]}, then file order"
            if order_by is not None
            else ("file order: the file has no date or timestamp column")
        )
        how = (
            f"each was counted once by its first row ({by}); the {rows - repeated:,} later rows "
            "were left out (repeated: first)."
        )
    else:
        how = (
            "each was counted once, its rows combined: a 0/1 metric is 1 if any row has 1, a "
            "number is the sum of its rows (repeated: sum; repeated: first keeps each one's "
            "first row instead)."
        )
    return Finding(
        "info",
        "repeated_user_rows",
        f"{repeated:,} users appear on more than one row of the same variant ({rows:,} rows "
        f"with the same {unit}, first at line {counts.repeated_line}); {how} A user seen in "
        "several variants is left out either way.",
        row=counts.repeated_line,
        column=unit,
    )


def no_primary(layout: Layout, first: list[GroupSums], *, named: bool = True) -> Finding:
    """The primary is missing or unusable; a primary the options ``named`` may be numeric."""
    primary = layout.primary
    if primary in layout.names:
        message = (
            f"The primary metric {primary!r} must be 0/1, TRUE/FALSE or a number for every "
            "user (and not a guardrail_ or pre_ column)."
        )
    else:
        binary, numeric = classify(layout, total(first))
        candidates = ", ".join(layout.names[i] for i in binary) or "none"
        message = (
            f"No {primary!r} column for the primary metric. Say which 0/1 column it is with "
            f"primary (0/1 columns in the file: {candidates})."
        )
        if named and numeric:
            message += " A numeric column or a ratio option may be the primary too: " + ", ".join(
                layout.names[i] for i in numeric
            )
            message += "."
    return Finding("blocked", "missing_primary", message, row=1, column=primary)


def cell_findings(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
) -> list[Finding]:
    """Empty variant or primary cells; guardrail counts that are negative or not whole."""
    empty = "have no {} value"
    checks = [
        (
            "empty_cell",
            layout.names[layout.variant],
            empty,
            q.empty_arm(blank_labels(first)),
            sum(g.rows for g in first if not label(g.raw_arm)),
        ),
        (
            "empty_cell",
            layout.primary,
            empty,
            q.EMPTY_PRIMARY,
            sum(g.rows for g in first if g.primary_missing),
        ),
    ]
    for i in metrics.numeric:
        if i in metrics.guardrails:
            what = "have a {} count that is negative or not whole"
            count = sum(g.column(i).not_counts or 0 for g in first)
            checks.append(("not_a_count", layout.names[i], what, q.not_a_count(i), count))
    findings = []
    for code, column, what, condition, count in checks:
        if count:
            lines = q.first_lines(con, csv_file, layout, condition)
            findings.append(
                Finding(
                    "blocked",
                    code,
                    f"{count} row(s) {what.format(column)} (first at line "
                    f"{', '.join(map(str, lines))}).",
                    row=lines[0] if lines else None,
                    column=column,
                )
            )
    return findings


def blank_findings(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
) -> list[Finding]:
    """Blank count cells, read as 0 (no event); guardrails that cannot be checked at all.

    A blank event cell in a user-level export usually comes from a left join of users to events
    (no event row), so it counts as 0, but never silently. A guardrail with no value in any row,
    or with values that are neither 0/1 nor counts, is not checked: a Warning, Blocked when the
    guardrails option named it (it was asked for).
    """
    kept = kept_groups(first)
    rows = sum(g.rows for g in kept)
    if not rows:
        return []
    findings = []
    kept_rows = q.kept(blank_labels(first))
    for i in metrics.counted():
        blanks = rows - sum(g.column(i).filled or 0 for g in kept)
        if blanks <= 0:
            continue
        column = layout.names[i]
        lines = q.first_lines(con, csv_file, layout, f"{kept_rows} AND {q.blank_cell(layout, i)}")
        findings.append(
            Finding(
                "warning",
                "blank_read_as_zero",
                f"{blanks} row(s) have no {column} value (first at line "
                f"{', '.join(map(str, lines))}): they were read as 0 (no event), as a left join "
                "of users to events leaves them. If a blank means the value is unknown, fix the "
                "export; write 0 where there was no event to say so.",
                row=lines[0] if lines else None,
                column=column,
            )
        )
    measured = {*metrics.binary, *metrics.numeric}
    for i in layout.guardrail_columns:
        if i in measured:
            continue
        column = layout.names[i]
        filled = sum(g.column(i).filled or 0 for g in kept) if layout.kinds[i] != "text" else None
        if filled == 0:
            condition = q.blank_cell(layout, i)
            problem = f"has no value in any of the {rows} row(s)"
        else:
            condition = q.neither_count_nor_boolean(layout, i)
            problem = "has values that are neither 0/1 nor counts"
        lines = q.first_lines(con, csv_file, layout, f"{kept_rows} AND {condition}")
        at = f" (first at line {', '.join(map(str, lines))})" if lines else ""
        named = column in layout.named_guardrails
        findings.append(
            Finding(
                "blocked" if named else "warning",
                "guardrail_not_checked",
                f"Guardrail {column} {problem}{at}: it is not checked, and no verdict covers it. "
                "Fill it in the export (0 where there was no event)"
                + (", or leave it out of the guardrails." if named else ", or drop the column."),
                row=lines[0] if lines else None,
                column=column,
            )
        )
    return findings
