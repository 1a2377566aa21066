"""User-level files (one row per user) → per-arm sufficient statistics, computed by DuckDB.

The CSV is read by DuckDB straight from disk; Python sees only aggregates. The usual file — integer
user ids, each once, with or without a segment column — takes one parallel pass
(``userlevel_queries.first_pass``): counts, sums, sums of squares, the largest values (for the
99.9th percentile) and a bitmap of user ids that proves no user repeats. Text ids (``u123``,
UUIDs) are proven distinct by one more scan of the id column alone (``distinct_text_ids``: no two
share a 64-bit hash, none has white space around it), and then take the same one pass. Anything
else (repeated or crossed users, ids that may be equal once trimmed) takes the keyed path: one row
per user in a DuckDB table, then the same aggregates from it.

The rules are those of SPEC §2.1: cells are trimmed, labels case-folded, booleans are
TRUE/FALSE/yes/no/1/0, the primary is 0/1, a number or a ratio option, a user in several variants is left out (Warning;
Blocked above ``thresholds.duplicate_user_blocked_share``), a user's rows in one variant are merged
(0/1 by max, numbers by sum), an extreme outlier (max > 10 × p99.9) is reported and the metric is
also reported capped at p99.9, and a numeric ``pre_<m>`` column is the CUPED covariate of ``<m>``.

The result is a ``StatsTable``. The SQL lives in ``userlevel_queries``, its sums come back typed
(``userlevel_sums``), the cell findings are ``userlevel_findings`` and the SRM breakdown, users by
first day and percentiles are ``userlevel_breakdowns``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import duckdb

from experimentos.ingest import userlevel_assignment as assignment
from experimentos.ingest import userlevel_breakdowns as breakdowns
from experimentos.ingest import userlevel_findings as checks
from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.arms import missing_unit_column
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
from experimentos.ingest.userlevel_columns import (
    missing_metrics_finding,
    not_a_number,
    untested_finding,
    without_non_metrics,
)
from experimentos.ingest.userlevel_numbers import (
    number_findings,
    widened_to_format,
    with_number_formats,
)
from experimentos.ingest.userlevel_queries import Layout, Relation, classify, guess_layout
from experimentos.ingest.userlevel_sums import (
    ColumnSums,
    GroupSums,
    MetricColumns,
    RatioSums,
    arm_labels,
    blank_labels,
    by_label,
    kept_groups,
    label,
    merged,
    total,
    value,
    with_capped,
)
from experimentos.model import (
    ArmInput,
    CovariateStats,
    Finding,
    MeanStats,
    MetricKind,
    Options,
    RatioStats,
    RepeatedRule,
    SourceInfo,
    Thresholds,
)

_OUTLIER_RATIO = 10.0
"""A value more than this multiple of the 99.9th percentile is an extreme outlier."""
_QUANTILE = 0.999 * 100.0 / 100
"""pandas hands numpy a percentage (99.9) that numpy divides by 100: the same float is used."""
CAPPED_SUFFIX = " (capped at p99.9)"
_MAX_RETRIES = 6


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
        missing = missing_unit_column(
            columns, user=user, variant=variant, has="the file has", row=1
        )
        return refused(source, [missing], primary=primary)
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
    layout = without_non_metrics(layout, head, metrics=options.metrics)
    layout, ambiguous = with_number_formats(layout, head)
    con = connect(temp_dir)
    try:
        return _aggregate(con, path, head, layout, source, options, thresholds, ambiguous)
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
    ambiguous: list[Finding],
) -> StatsTable:
    layout, first = _first_pass(con, path, head, layout, size_bytes=source.size_bytes)
    source = replace(source, rows=sum(g.rows for g in first))
    if not first:
        finding = Finding("blocked", "no_rows", "The file has a header but no data rows.")
        return refused(source, [finding], primary=layout.primary)
    csv_file = q.csv_for(path, head, layout)
    numeric = classify(layout, total(first))[1]
    said = [*ambiguous, *number_findings(con, csv_file, layout, first, numeric)]
    found = _metrics(layout, first, named=options.primary is not None)
    if found is None:
        finding = checks.no_primary(layout, first, named=options.primary is not None)
        return refused(source, [*said, finding], primary=layout.primary)
    metrics, primary_kind = found
    findings = said + [
        f
        for f in (
            untested_finding(layout, metrics),
            missing_metrics_finding(layout, options.metrics),
        )
        if f
    ]
    findings += checks.ratio_findings(layout, metrics, options)
    findings += checks.cell_findings(con, csv_file, layout, metrics, first)
    findings += checks.blank_findings(con, csv_file, layout, metrics, first)
    findings += assignment.assignment_findings(con, path, head, layout, metrics, first)
    distinct = q.proven_distinct(layout, first) or q.distinct_text_ids(con, csv_file, layout, first)
    if distinct and not _blank_binary_ratio_part(layout, metrics, first):
        groups = _fast_groups(con, csv_file, layout, metrics, first)
        relation = Relation.raw(csv_file, layout, blank_labels(first))
    else:
        groups, relation = _keyed_groups(
            con, path, head, layout, metrics, first, thresholds, findings, rule=options.repeated
        )
    quantiles, p999 = breakdowns.quantiles(
        con, relation, layout, metrics, groups, first, thresholds.alpha, cap_level=_QUANTILE
    )
    groups, caps = _capped_outliers(con, relation, layout, metrics, groups, p999, findings)
    counted = metrics.counted()
    name = layout.names.__getitem__
    day_column, by_day = breakdowns.by_day(
        con, path, head, layout, first, keyed=bool(relation.labels), proportion=metrics.proportion
    )
    table = StatsTable(
        source,
        layout.primary,
        tuple(findings),
        tuple(GroupStats(g.segment, arm_stats(g, layout, metrics, caps)) for g in groups),
        guardrails=tuple(name(i) for i in metrics.guardrails),
        secondary=tuple(sorted(name(i) for i in counted if i not in metrics.guardrails)),
        means=(*map(name, metrics.means), *(name(i) + CAPPED_SUFFIX for i in caps)),
        ratios=tuple(layout.ratios[k][0] for k in metrics.ratios),
        quantiles=quantiles,
        date_column=day_column,
        by_day=by_day,
        primary_kind=primary_kind,
    )
    if not breakdowns.split_is_off(table, options, thresholds):
        return table
    dimensions = breakdowns.dimensions(
        con, path, head, layout, metrics, first, keyed=bool(relation.labels)
    )
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
            formatted = widened_to_format(layout, head, failure.column, failure.value)
            layout = formatted or not_a_number(
                layout.widened(failure.column, failure.value), failure
            )
        except BitmapMiss:
            layout = q.wider_bitmap(layout)
    layout = layout.widened(None, "")
    return layout, q.first_pass(con, q.csv_for(path, head, layout), layout, size_bytes)


def _metrics(
    layout: Layout, first: list[GroupSums], *, named: bool = True
) -> tuple[MetricColumns, MetricKind] | None:
    """What each column is, and the primary's kind (None: no usable primary).

    The primary is a 0/1 column (a proportion), any other numeric column that is not a guardrail
    or a ``pre_`` covariate (a mean), or the name of a ratio option whose two columns are
    numeric (a ratio); its position is -1 for a ratio. Only a primary the options ``named``
    may be other than 0/1: the default ``converted`` must be 0/1.
    """
    binary, numeric = classify(layout, total(first))
    primary = layout.index(layout.primary)
    names = layout.names
    guardrails = tuple(i for i in (*binary, *numeric) if layout.is_guardrail(i) and i != primary)
    means = tuple(i for i in numeric if not layout.is_guardrail(i) and not is_pre_period(names[i]))
    pre = {i: layout.index(pre_period_of(names[i])) for i in means}
    pairs = {i: p for i, p in pre.items() if p is not None and p in numeric}
    measured = {*binary, *numeric}
    ratios = {
        k: (x, y) for k, (_, x, y) in enumerate(layout.ratios) if x in measured and y in measured
    }
    kind: MetricKind
    if primary is not None and primary in binary:
        kind = "proportion"
    elif named and primary is not None and primary in means:
        kind = "mean"
    elif named and primary is None and any(layout.ratios[k][0] == layout.primary for k in ratios):
        kind, primary = "ratio", -1
    else:
        return None
    return MetricColumns(primary, binary, numeric, guardrails, means, pairs, ratios), kind


def _blank_binary_ratio_part(
    layout: Layout, metrics: MetricColumns, first: list[GroupSums]
) -> bool:
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


# --------------------------------------------------------------------------- fast path


def _fast_groups(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
) -> list[GroupSums]:
    """Every row is a distinct user: the first pass already holds the per-arm figures."""
    kept = kept_groups(first)
    groups = merged([replace(g, users=g.rows) for g in kept], key=by_label)
    order = _sample_order(layout, csv_file.head)
    missing = [g for g in groups if (g.arm, g.segment) not in order]
    if len(missing) > 1:  # a file sorted by variant, say: ask DuckDB where each group starts
        order = {}
        lines = q.first_line_per_group(con, csv_file, layout, blank_labels(first))
        for (raw_arm, raw_segment), line in sorted(lines.items(), key=lambda item: item[1]):
            order.setdefault((label(raw_arm), label(raw_segment)), line)
    return sorted(groups, key=lambda g: order.get((g.arm, g.segment), math.inf))


def _sample_order(layout: Layout, head: Head) -> dict[tuple[str, str], float]:
    """(arm, segment) groups in the order they first appear among the sample's kept rows."""
    order: dict[tuple[str, str], float] = {}
    primary = layout.index(layout.primary)  # None: a ratio primary, no column of its own
    for position, row in enumerate(head.rows):
        if len(row) != len(layout.names):
            continue
        arm = label(row[layout.variant])
        segment = "" if layout.segment is None else label(row[layout.segment])
        if arm and (primary is None or row[primary].strip()):
            order.setdefault((arm, segment), position)
    return order


# --------------------------------------------------------------------------- keyed path


def _keyed_groups(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
    thresholds: Thresholds,
    findings: list[Finding],
    *,
    rule: RepeatedRule,
) -> tuple[list[GroupSums], Relation]:
    """One row per user id in a DuckDB table: crossed users out, a user's rows merged by
    ``rule`` (summed, or its first row by the date column when there is one)."""
    layout = layout.keyed()
    labels = arm_labels(first)
    codes = {name: code for code, name in enumerate(["", *labels])}
    order_by = q.date_column(layout, head) if rule == "first" else None
    counts = q.per_user_table(
        con,
        q.csv_for(path, head, layout),
        layout,
        binary=metrics.binary,
        numeric=metrics.numeric,
        primary=metrics.primary,
        arm_codes={g.raw_arm or "": codes[label(g.raw_arm)] for g in first},
        rule=rule,
        order_by=order_by,
    )
    crossed, users, line = counts.crossed, counts.users, counts.line
    if counts.repeated:
        findings.append(checks.repeated_users_finding(counts, layout, rule=rule, order_by=order_by))
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
    return groups, relation


# --------------------------------------------------------------------------- outliers


def _capped_outliers(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    layout: Layout,
    metrics: MetricColumns,
    groups: list[GroupSums],
    p999: dict[int, float],
    findings: list[Finding],
) -> tuple[list[GroupSums], dict[int, float]]:
    """Metrics whose maximum is above 10 × their 99.9th percentile (``p999``: over every arm's
    users, numpy's linear quantile) → {column: that percentile}, and the groups with those
    metrics' capped sums."""
    caps: dict[int, float] = {}
    largest: dict[int, float] = {}
    for i in metrics.means:
        tops = [g.column(i).largest for g in groups]
        top = max((t for t in tops if t is not None), default=None)
        cap = p999.get(i)
        if top is None or cap is None or math.isnan(cap):
            continue
        if cap > 0 and top > _OUTLIER_RATIO * cap:
            caps[i], largest[i] = cap, top
    if not caps:
        return groups, caps
    medians, capped = q.capped_sums(con, relation, caps)
    capped_by_key = {(c.arm, c.segment): c for c in merged(capped, key=by_label)}
    groups = [with_capped(g, capped_by_key.get((g.arm, g.segment)), caps) for g in groups]
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


# --------------------------------------------------------------------------- assembly


def arm_stats(
    g: GroupSums, layout: Layout, metrics: MetricColumns, caps: dict[int, float]
) -> ArmInput:
    """The group's statistics (each capped metric also as ``<m> (capped at p99.9)``)."""
    name = layout.names.__getitem__
    counts = {
        name(i): int(value(g.column(i).ones if i in metrics.binary else g.column(i).total))
        for i in metrics.counted()
    }
    means = {name(i): _mean(g.column(i)) for i in metrics.means}
    for i in caps:
        sums = g.column(i)
        means[name(i) + CAPPED_SUFFIX] = MeanStats(
            int(value(sums.numbers)), value(sums.capped_total), value(sums.capped_total_sq)
        )
    covariates = {name(i): _covariate(g.column(i)) for i in metrics.pairs}
    ratios = {layout.ratios[k][0]: _ratio(g.ratio(k)) for k in metrics.ratios}
    primary = int(value(g.column(metrics.primary).ones)) if metrics.proportion else 0
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
