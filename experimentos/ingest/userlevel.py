"""User-level files (one row per user) → per-arm sufficient statistics, computed by DuckDB.

The CSV is read by DuckDB straight from disk; Python sees only aggregates. The usual file — integer
user ids, each once, with or without a segment column — takes one parallel pass
(``userlevel_queries.first_pass``): counts, sums, sums of squares, the largest values (for the
99.9th percentile) and a bitmap of user ids that proves no user repeats. Anything else (repeated or
crossed users, text ids) takes the keyed path: one row per user in a DuckDB table, then the same
aggregates from it.

The rules are those of SPEC §2.1: cells are trimmed, labels case-folded, booleans are
TRUE/FALSE/yes/no/1/0, the primary must be 0/1, a user in several variants is left out (Warning;
Blocked above ``thresholds.duplicate_user_blocked_share``), a user's rows in one variant are merged
(0/1 by max, numbers by sum), an extreme outlier (max > 10 × p99.9) is reported and the metric is
also reported capped at p99.9, and a numeric ``pre_<m>`` column is the CUPED covariate of ``<m>``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.arms import pooled_arms, ratio_option_findings
from experimentos.ingest.columns import (
    USER_ALIASES,
    USER_LEVEL_PRIMARY,
    VARIANT_ALIASES,
    find_column,
    is_pre_period,
    pre_period_of,
)
from experimentos.ingest.duckdb_csv import BitmapMiss, ConversionFailed, CsvFile, connect
from experimentos.ingest.sniff import Head
from experimentos.ingest.stats_table import GroupStats, StatsTable, refused
from experimentos.ingest.userlevel_queries import Layout, Relation, classify, guess_layout
from experimentos.ingest.userlevel_sums import (
    ColumnSums,
    GroupSums,
    RatioSums,
    by_label,
    label,
    merged,
    total,
    value,
)
from experimentos.model import (
    ArmInput,
    CovariateStats,
    DayCount,
    DimensionCell,
    Finding,
    MeanStats,
    Options,
    QuantileStats,
    RatioSpec,
    RatioStats,
    SourceInfo,
    Thresholds,
)
from experimentos.stats import quantiles as quantile_stats
from experimentos.stats.proportions import srm_chi_square

_OUTLIER_RATIO = 10.0
"""A value more than this multiple of the 99.9th percentile is an extreme outlier."""
_QUANTILE = 0.999 * 100.0 / 100
"""pandas hands numpy a percentage (99.9) that numpy divides by 100: the same float is used."""
CAPPED_SUFFIX = " (capped at p99.9)"
MAX_DIMENSION_VALUES = 50
"""A text column with more values than this is not broken down when the split is off."""
log = logging.getLogger(__name__)
_MAX_RETRIES = 6


@dataclass(frozen=True, slots=True)
class _Metrics:
    """What the columns turned out to be over the whole file (column positions)."""

    primary: int
    binary: tuple[int, ...]
    numeric: tuple[int, ...]
    guardrails: tuple[int, ...]
    means: tuple[int, ...]
    pairs: dict[int, int]
    """Mean column → its ``pre_`` covariate column."""
    ratios: dict[int, tuple[int, int]]
    """Ratio k of ``Layout.ratios`` whose two columns are numeric → (numerator, denominator)."""


def read_user_level(
    path: Path,
    *,
    head: Head,
    temp_dir: Path,
    source: SourceInfo,
    options: Options,
    thresholds: Thresholds,
) -> StatsTable:
    """Aggregate the user-level CSV at ``path``, whose head was sniffed as ``head``.

    Raises ``duckdb_csv.MalformedCsv`` and ``duckdb_csv.NotUtf8`` for the caller to handle.
    """
    columns = head.columns
    primary = options.primary or USER_LEVEL_PRIMARY
    user = find_column(columns, USER_ALIASES, override=options.user_column)
    variant = find_column(columns, VARIANT_ALIASES, override=options.variant_column)
    if user is None or variant is None:
        what = "variant" if variant is None else "user_id"
        aliases = VARIANT_ALIASES if what == "variant" else USER_ALIASES
        message = (
            f"No {what} column: name one of {', '.join(aliases)}, or say which column it is "
            f"(the file has: {', '.join(columns)})."
        )
        finding = Finding("blocked", "missing_column", message, row=1, column=what)
        return refused(source, [finding], primary=primary)
    layout = guess_layout(
        head, columns, user=user, variant=variant, primary=primary, size_bytes=source.size_bytes
    )
    ratios = tuple(
        (spec.name, columns.index(spec.numerator), columns.index(spec.denominator))
        for spec in options.ratios
        if spec.numerator in columns and spec.denominator in columns
    )
    named = tuple(spec.name for spec in options.guardrails or () if spec.name in columns)
    layout = replace(layout, ratios=ratios, named_guardrails=named)
    con = connect(temp_dir)
    try:
        return _aggregate(con, path, head, layout, source, options, thresholds)
    finally:
        con.close()


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    source: SourceInfo,
    options: Options,
    thresholds: Thresholds,
) -> StatsTable:
    layout, first = _first_pass(con, path, head, layout, size_bytes=source.size_bytes)
    source = replace(source, rows=sum(g.rows for g in first))
    if not first:
        finding = Finding("blocked", "no_rows", "The file has a header but no data rows.")
        return refused(source, [finding], primary=layout.primary)
    metrics = _metrics(layout, first)
    if metrics is None:
        return refused(source, [_no_primary(layout, first)], primary=layout.primary)
    csv_file = q.csv_for(path, head, layout)
    findings = _ratio_findings(layout, metrics, options)
    findings += _cell_findings(con, csv_file, layout, metrics, first)
    findings += _blank_findings(con, csv_file, layout, metrics, first)
    if q.proven_distinct(layout, first) and not _blank_binary_ratio_part(layout, metrics, first):
        groups, tops = _fast_groups(con, csv_file, layout, metrics, first)
        relation = Relation.raw(csv_file, layout, _blank(first))
    else:
        groups, tops, relation = _keyed_groups(
            con, path, head, layout, metrics, first, thresholds, findings
        )
    groups, caps = _capped_outliers(con, relation, layout, metrics, groups, tops, findings)
    counted = _counted(metrics)
    name = layout.names.__getitem__
    quantiles = _quantiles(con, relation, layout, metrics, groups, first, thresholds.alpha)
    day_column, by_day = _by_day(con, path, head, layout, first, keyed=bool(relation.labels))
    table = StatsTable(
        source,
        layout.primary,
        tuple(findings),
        tuple(GroupStats(g.segment, _arm(g, layout, metrics, caps)) for g in groups),
        guardrails=tuple(name(i) for i in metrics.guardrails),
        secondary=tuple(sorted(name(i) for i in counted if i not in metrics.guardrails)),
        means=(*map(name, metrics.means), *(name(i) + CAPPED_SUFFIX for i in caps)),
        ratios=tuple(layout.ratios[k][0] for k in metrics.ratios),
        quantiles=quantiles,
        date_column=day_column,
        by_day=by_day,
    )
    if not _split_is_off(table, options, thresholds):
        return table
    dimensions = _dimensions(con, path, head, layout, metrics, first, keyed=bool(relation.labels))
    return replace(table, dimensions=dimensions)


# --------------------------------------------------------------------------- first pass


def _first_pass(
    con: duckdb.DuckDBPyConnection, path: Path, head: Head, layout: Layout, *, size_bytes: int
) -> tuple[Layout, list[GroupSums]]:
    """One parallel scan; a cell that does not fit its guessed type widens the guess and retries."""
    for _ in range(_MAX_RETRIES):
        try:
            return layout, q.first_pass(con, q.csv_for(path, head, layout), layout, size_bytes)
        except ConversionFailed as failure:
            layout = layout.widened(failure.column, failure.value)
        except BitmapMiss:
            layout = q.wider_bitmap(layout)
    layout = layout.widened(None, "")
    return layout, q.first_pass(con, q.csv_for(path, head, layout), layout, size_bytes)


def _metrics(layout: Layout, first: list[GroupSums]) -> _Metrics | None:
    binary, numeric = classify(layout, total(first))
    primary = layout.index(layout.primary)
    if primary is None or primary not in binary:
        return None
    names = layout.names
    guardrails = tuple(i for i in (*binary, *numeric) if layout.is_guardrail(i) and i != primary)
    means = tuple(i for i in numeric if not layout.is_guardrail(i) and not is_pre_period(names[i]))
    pre = {i: layout.index(pre_period_of(names[i])) for i in means}
    pairs = {i: p for i, p in pre.items() if p is not None and p in numeric}
    measured = {*binary, *numeric}
    ratios = {
        k: (x, y) for k, (_, x, y) in enumerate(layout.ratios) if x in measured and y in measured
    }
    return _Metrics(primary, binary, numeric, guardrails, means, pairs, ratios)


def _blank_binary_ratio_part(layout: Layout, metrics: _Metrics, first: list[GroupSums]) -> bool:
    """A ratio part read as text that turned out 0/1 with blank cells: the first pass left those
    users out of the ratio, where a blank 0/1 cell counts as 0. The keyed path reads it right."""
    parts = {i for pair in metrics.ratios.values() for i in pair}
    everything = total(first)
    return any(
        layout.kinds[i] == "any"
        and i in metrics.binary
        and everything.column(i).filled != everything.rows
        for i in parts
    )


def _ratio_findings(layout: Layout, metrics: _Metrics, options: Options) -> list[Finding]:
    """A ratio asked for whose columns are missing or not numeric: reported, not analysed."""
    analysed = {layout.ratios[k][0] for k in metrics.ratios}

    def problem(spec: RatioSpec) -> tuple[str, int | None, str | None]:
        missing = [c for c in (spec.numerator, spec.denominator) if c not in layout.names]
        if missing:
            return f"the file has no {' or '.join(map(repr, missing))} column", None, missing[0]
        return "both of its columns must be numbers or 0/1 for every user", None, spec.numerator

    return ratio_option_findings(options, analysed, problem)


def _repeated_users_finding(counts: q.UserCounts, layout: Layout) -> Finding:
    """Users of one arm on several rows are merged into one user each: said, never silent."""
    repeated, rows = counts.repeated, counts.repeated_rows
    return Finding(
        "info",
        "repeated_user_rows",
        f"{repeated:,} users appear on more than one row of the same variant ({rows:,} rows, "
        f"first at line {counts.repeated_line}); each was counted once, its rows merged: "
        "a 0/1 metric is 1 if any row has 1, a number is the sum of its rows.",
        row=counts.repeated_line,
        column=layout.names[layout.user],
    )


def _no_primary(layout: Layout, first: list[GroupSums]) -> Finding:
    primary = layout.primary
    if primary in layout.names:
        message = f"The primary metric {primary!r} must be 0/1 or TRUE/FALSE for every user."
    else:
        binary, _ = classify(layout, total(first))
        candidates = ", ".join(layout.names[i] for i in binary) or "none"
        message = (
            f"No {primary!r} column for the primary metric. Say which 0/1 column it is with "
            f"primary (0/1 columns in the file: {candidates})."
        )
    return Finding("blocked", "missing_primary", message, row=1, column=primary)


def _cell_findings(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: _Metrics,
    first: list[GroupSums],
) -> list[Finding]:
    """Empty variant or primary cells; guardrail counts that are negative or not whole."""
    empty = "have no {} value"
    checks = [
        (
            "empty_cell",
            layout.names[layout.variant],
            empty,
            q.empty_arm(_blank(first)),
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


def _blank_findings(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: _Metrics,
    first: list[GroupSums],
) -> list[Finding]:
    """Blank count cells, read as 0 (no event); guardrails that cannot be checked at all.

    A blank event cell in a user-level export usually comes from a left join of users to events
    (no event row), so it counts as 0, but never silently. A guardrail with no value in any row,
    or with values that are neither 0/1 nor counts, is not checked: a Warning, Blocked when the
    guardrails option named it (it was asked for).
    """
    kept = _kept(first)
    rows = sum(g.rows for g in kept)
    if not rows:
        return []
    findings = []
    kept_rows = q.kept(_blank(first))
    for i in _counted(metrics):
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


# --------------------------------------------------------------------------- fast path


def _fast_groups(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: _Metrics,
    first: list[GroupSums],
) -> tuple[list[GroupSums], dict[int, list[float]]]:
    """Every row is a distinct user: the first pass already holds the per-arm figures."""
    kept = _kept(first)
    tops = {i: [v for g in kept for v in g.column(i).top] for i in metrics.means}
    groups = merged([replace(g, users=g.rows) for g in kept], key=by_label)
    order = _sample_order(layout, csv_file.head)
    missing = [g for g in groups if (g.arm, g.segment) not in order]
    if len(missing) > 1:  # a file sorted by variant, say: ask DuckDB where each group starts
        order = {}
        lines = q.first_line_per_group(con, csv_file, layout, _blank(first))
        for (raw_arm, raw_segment), line in sorted(lines.items(), key=lambda item: item[1]):
            order.setdefault((label(raw_arm), label(raw_segment)), line)
    return sorted(groups, key=lambda g: order.get((g.arm, g.segment), math.inf)), tops


def _sample_order(layout: Layout, head: Head) -> dict[tuple[str, str], float]:
    """(arm, segment) groups in the order they first appear among the sample's kept rows."""
    order: dict[tuple[str, str], float] = {}
    primary = layout.index(layout.primary)
    assert primary is not None
    for position, row in enumerate(head.rows):
        if len(row) != len(layout.names):
            continue
        arm = label(row[layout.variant])
        segment = "" if layout.segment is None else label(row[layout.segment])
        if arm and row[primary].strip():
            order.setdefault((arm, segment), position)
    return order


# --------------------------------------------------------------------------- keyed path


def _keyed_groups(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: _Metrics,
    first: list[GroupSums],
    thresholds: Thresholds,
    findings: list[Finding],
) -> tuple[list[GroupSums], dict[int, list[float]], Relation]:
    """One row per user id in a DuckDB table: crossed users out, a user's rows merged."""
    layout = layout.keyed()
    labels = _labels(first)
    codes = {name: code for code, name in enumerate(["", *labels])}
    counts = q.per_user_table(
        con,
        q.csv_for(path, head, layout),
        layout,
        binary=metrics.binary,
        numeric=metrics.numeric,
        primary=metrics.primary,
        arm_codes={g.raw_arm or "": codes[label(g.raw_arm)] for g in first},
    )
    crossed, users, line = counts.crossed, counts.users, counts.line
    if counts.repeated:
        findings.append(_repeated_users_finding(counts, layout))
    if crossed:
        share = crossed / users
        findings.append(
            Finding(
                "blocked" if share > thresholds.duplicate_user_blocked_share else "warning",
                "user_in_several_variants",
                f"{crossed} users ({share:.2%}) appear in more than one variant (first at line "
                f"{line}); they were left out of the analysis. Check the assignment.",
                row=line,
                column=layout.names[layout.user],
            )
        )
    relation = Relation.per_user(("", *labels))
    rows = q.per_arm(
        con,
        relation,
        binary=metrics.binary,
        numeric=metrics.numeric,
        pairs=metrics.pairs,
        ratios=metrics.ratios,
    )
    groups = sorted(merged(rows, key=by_label), key=lambda g: g.first_line or 0)
    return groups, q.top_values(con, relation, metrics.means, users=users), relation


# --------------------------------------------------------------------------- SRM breakdown


def _split_is_off(table: StatsTable, options: Options, thresholds: Thresholds) -> bool:
    """The overall sample ratio check would fire (health repeats it and reports it)."""
    arms = pooled_arms(table.groups)
    shares = options.split or tuple(1.0 for _ in arms)
    if len(arms) < 2 or len(shares) != len(arms) or not sum(a.users for a in arms):
        return False
    if any(f.severity == "blocked" for f in table.findings):
        return False
    _, p_value = srm_chi_square([a.users for a in arms], shares)
    return p_value < thresholds.srm_warning_p


def _categorical_columns(layout: Layout, metrics: _Metrics, head: Head) -> tuple[int, ...]:
    """Text columns other than the user, variant and segment (which has its own per-segment
    check) and guardrails, with at most ``MAX_DIMENSION_VALUES`` values in the sample."""
    measured = {*metrics.binary, *metrics.numeric}
    roles = {layout.user, layout.variant, layout.segment}
    rows = [r for r in head.rows if len(r) == len(layout.names)]
    out = []
    for i, kind in enumerate(layout.kinds):
        if i in roles or i in measured or kind not in ("text", "any") or layout.is_guardrail(i):
            continue
        seen = {r[i].strip() for r in rows}
        if len(seen) > MAX_DIMENSION_VALUES:
            log.debug(
                "SRM breakdown: %s skipped (> %d values)", layout.names[i], MAX_DIMENSION_VALUES
            )
            continue
        out.append(i)
    return tuple(out)


def _dimensions(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: _Metrics,
    first: list[GroupSums],
    *,
    keyed: bool,
) -> tuple[DimensionCell, ...]:
    """Users per arm within each value of each categorical column (one grouped scan)."""
    columns = _categorical_columns(layout, metrics, head)
    if not columns:
        return ()
    if keyed:
        keyed_layout = layout.keyed()
        labels = ("", *_labels(first))
        rows = q.dimension_counts(
            con, q.csv_for(path, head, keyed_layout), keyed_layout, columns, (), labels=labels
        )
    else:
        rows = q.dimension_counts(
            con, q.csv_for(path, head, layout), layout, columns, _blank(first)
        )
    cells: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        i = next(i for i in columns if row[f"d{i}"] is not None)
        arms = cells.setdefault((i, row[f"d{i}"]), {})
        arm = label(row["a"])
        arms[arm] = arms.get(arm, 0) + int(row["users"])
    values: dict[int, int] = {}
    for i, _ in cells:
        values[i] = values.get(i, 0) + 1
    wide = {i for i, n in values.items() if n > MAX_DIMENSION_VALUES}
    for i in sorted(wide):
        log.debug("SRM breakdown: %s skipped (%d values)", layout.names[i], values[i])
    return tuple(
        DimensionCell(layout.names[i], value, tuple(sorted(arms.items())))
        for (i, value), arms in sorted(cells.items())
        if i not in wide
    )


def _by_day(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    first: list[GroupSums],
    *,
    keyed: bool,
) -> tuple[str | None, tuple[DayCount, ...]]:
    """Users per arm by the day of their first row, when a date or timestamp column exists."""
    column = q.date_column(layout, head)
    if column is None:
        return None, ()
    if keyed:
        keyed_layout = layout.keyed()
        labels = ("", *_labels(first))
        csv_file = q.csv_for(path, head, keyed_layout)
        rows = q.first_day_counts(con, csv_file, keyed_layout, column, (), labels=labels)
    else:
        csv_file = q.csv_for(path, head, layout)
        rows = q.first_day_counts(con, csv_file, layout, column, _blank(first))
    users: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        if row["day"] is not None:
            key = (row["day"], label(row["a"]))
            n, y = users.get(key, (0, 0))
            users[key] = (n + int(row["users"]), y + int(row["converted"] or 0))
    counts = tuple(DayCount(day, arm, n, y) for (day, arm), (n, y) in sorted(users.items()))
    return layout.names[column], counts


# --------------------------------------------------------------------------- outliers


def _capped_outliers(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    layout: Layout,
    metrics: _Metrics,
    groups: list[GroupSums],
    tops: dict[int, list[float]],
    findings: list[Finding],
) -> tuple[list[GroupSums], dict[int, float]]:
    """Metrics whose maximum is above 10 × their 99.9th percentile → {column: that percentile},
    and the groups with those metrics' capped sums."""
    caps: dict[int, float] = {}
    largest: dict[int, float] = {}
    for i in metrics.means:
        n = sum(g.column(i).numbers or 0 for g in groups)
        top = sorted(tops.get(i) or [], reverse=True)
        if not n:
            continue
        cap = _quantile(n, top)
        if cap > 0 and top[0] > _OUTLIER_RATIO * cap:
            caps[i], largest[i] = cap, top[0]
    if not caps:
        return groups, caps
    medians, capped = q.capped_sums(con, relation, caps)
    capped_by_key = {(c.arm, c.segment): c for c in merged(capped, key=by_label)}
    groups = [_with_capped(g, capped_by_key.get((g.arm, g.segment)), caps) for g in groups]
    for i, cap in caps.items():
        findings.append(
            Finding(
                "info",
                "extreme_outlier",
                f"{layout.names[i]} has an extreme outlier: {largest[i]:,.0f} against a median of "
                f"{medians[i]:,.0f} and a 99.9th percentile of {cap:,.0f}. The metric is also "
                f"reported capped at {cap:,.0f}.",
                column=layout.names[i],
            )
        )
    return groups, caps


def _with_capped(group: GroupSums, capped: GroupSums | None, caps: dict[int, float]) -> GroupSums:
    """The group with the capped sums of the metrics in ``caps`` (none: a sum of no rows)."""
    columns = dict(group.columns)
    for i in caps:
        sums = capped.column(i) if capped is not None else ColumnSums()
        columns[i] = replace(
            group.column(i), capped_total=sums.capped_total, capped_total_sq=sums.capped_total_sq
        )
    return replace(group, columns=columns)


def _quantile(n: int, top: list[float]) -> float:
    """numpy's linear quantile (pandas' Series.quantile) of n values from the largest of them.

    ``top`` is descending, so value i of the n in ascending order is ``top[n - 1 - i]``.
    """
    virtual = (n - 1) * _QUANTILE
    if virtual >= n - 1:
        return top[0]
    below = math.floor(virtual)
    a, b = top[n - 1 - below], top[n - 2 - below]
    t = virtual - below
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


# --------------------------------------------------------------------------- percentiles


def _quantiles(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    layout: Layout,
    metrics: _Metrics,
    groups: list[GroupSums],
    first: list[GroupSums],
    alpha: float,
) -> tuple[QuantileStats, ...]:
    """The median and p90 of each continuous metric per arm, each with the two order statistics
    of its Woodruff interval (``stats.quantiles``): one scan of the users for every arm."""
    users: dict[tuple[str, int], int] = {}
    for g in groups:
        for i in metrics.means:
            key = (g.arm, i)
            users[key] = users.get(key, 0) + int(g.column(i).numbers or 0)
    arms = list(dict.fromkeys(g.arm for g in groups))
    members: dict[str, tuple[str, ...] | tuple[int, ...]]
    if relation.labels:  # the per_user table: one arm code per label
        members = {arm: (relation.labels.index(arm),) for arm in arms}
    else:
        members = {
            arm: tuple(dict.fromkeys(g.raw_arm or "" for g in first if label(g.raw_arm) == arm))
            for arm in arms
        }
    requests, keys = [], []
    for arm in arms:
        for i in metrics.means:
            n = users[(arm, i)]
            if not n:
                continue
            for level in quantile_stats.LEVELS:
                lower, upper = quantile_stats.rank_fractions(n, level, alpha)
                requests.append((i, members[arm], (level, lower, upper)))
                keys.append((arm, i, level, n))
    values = q.quantiles(con, relation, requests)
    return tuple(
        QuantileStats(layout.names[i], arm, level, n, *map(_number, found), alpha)
        for (arm, i, level, n), found in zip(keys, values, strict=True)
    )


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


# --------------------------------------------------------------------------- assembly


def _counted(metrics: _Metrics) -> list[int]:
    counted = [i for i in metrics.binary if i != metrics.primary]
    return counted + [i for i in metrics.guardrails if i not in counted]


def _arm(g: GroupSums, layout: Layout, metrics: _Metrics, caps: dict[int, float]) -> ArmInput:
    """The group's statistics (each capped metric also as ``<m> (capped at p99.9)``)."""
    name = layout.names.__getitem__
    counts = {
        name(i): int(value(g.column(i).ones if i in metrics.binary else g.column(i).total))
        for i in _counted(metrics)
    }
    means = {name(i): _mean(g.column(i)) for i in metrics.means}
    for i in caps:
        sums = g.column(i)
        means[name(i) + CAPPED_SUFFIX] = MeanStats(
            int(value(sums.numbers)), value(sums.capped_total), value(sums.capped_total_sq)
        )
    covariates = {name(i): _covariate(g.column(i)) for i in metrics.pairs}
    ratios = {layout.ratios[k][0]: _ratio(g.ratio(k)) for k in metrics.ratios}
    primary = int(value(g.column(metrics.primary).ones))
    return ArmInput(g.arm, int(g.users), primary, counts, means, covariates, ratios)


def _mean(sums: ColumnSums) -> MeanStats:
    return MeanStats(int(value(sums.numbers)), value(sums.total), value(sums.total_sq))


def _covariate(sums: ColumnSums) -> CovariateStats:
    post = _mean(sums)
    pre = (value(sums.pre_total), value(sums.pre_total_sq), value(sums.cross_total))
    return CovariateStats(post.n, post.total, post.total_sq, *pre)


def _ratio(sums: RatioSums) -> RatioStats:
    parts = (sums.num_total, sums.num_total_sq, sums.den_total, sums.den_total_sq)
    return RatioStats(int(value(sums.n)), *map(value, parts), value(sums.cross_total))


# --------------------------------------------------------------------------- helpers


def _kept(first: list[GroupSums]) -> list[GroupSums]:
    """Groups of rows with a variant label and a primary value."""
    return [g for g in first if label(g.raw_arm) and not g.primary_missing]


def _labels(first: list[GroupSums]) -> list[str]:
    """The variant labels, normalised and sorted (arm codes 1, 2, … of the keyed path)."""
    return sorted({label(g.raw_arm) for g in first} - {""})


def _blank(first: list[GroupSums]) -> tuple[str, ...]:
    """Raw variant labels that are blank once trimmed."""
    return tuple(g.raw_arm or "" for g in first if not label(g.raw_arm))
