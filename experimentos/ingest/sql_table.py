"""A user-level query's rows → ``StatsTable``, every figure aggregated inside the database.

The same rules as a user-level CSV (``ingest.userlevel``, SPEC §2.1): the columns' roles come from
``ingest.columns``; a metric is 0/1 when every filled value over all rows is 0, 1 or a boolean,
numeric otherwise; a unit in several variants is left out (Warning; Blocked above
``thresholds.duplicate_user_blocked_share``); a unit's rows in one variant are merged; an extreme
outlier (max > 10 × p99.9) is reported and the metric also reported capped; ``pre_<m>`` is the
CUPED covariate of ``<m>``. The statements are ``sql_aggregate``'s; ``fetch`` runs one and returns
its rows (the few that reach Python).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from experimentos.ingest import sql_aggregate as agg
from experimentos.ingest import sql_findings
from experimentos.ingest import userlevel_findings as checks
from experimentos.ingest.arms import header_findings, missing_unit_column
from experimentos.ingest.columns import (
    USER_ALIASES,
    USER_LEVEL_PRIMARY,
    VARIANT_ALIASES,
    find_column,
    is_pre_period,
    normalise_header,
    not_a_metric,
    pre_period_of,
)
from experimentos.ingest.stats_table import GroupStats, StatsTable, refused
from experimentos.ingest.userlevel import CAPPED_SUFFIX, arm_stats
from experimentos.ingest.userlevel_columns import missing_metrics_finding, untested_finding
from experimentos.ingest.userlevel_queries import Layout
from experimentos.ingest.userlevel_sums import (
    GroupSums,
    MetricColumns,
    by_label,
    group_sums,
    label,
    merged,
)
from experimentos.model import (
    Finding,
    MetricKind,
    Options,
    QuantileStats,
    SourceInfo,
    Thresholds,
)
from experimentos.stats import quantiles as quantile_stats
from experimentos.stats.distributions import norm_isf

Fetch = Callable[[sa.Select[Any]], list[dict[str, Any]]]
SAMPLE_ROWS = 100
"""Rows sampled to learn each column's type (a column empty in them is probed for one value)."""
_OUTLIER_RATIO = 10.0
Key = tuple[int, str, int, float, int]
"""A percentile's place in the result row (``q{k}_{j}``), arm, column, level, units."""
MAX_CODED_LABELS = 64
"""Up to this many raw variant labels, rows carry their arm as a code from a CASE over the raw
label (no string function per row); above, as the trimmed, lower-cased label."""


def stats_table(
    fetch: Fetch,
    query: str,
    raw: Sequence[str],
    *,
    source: SourceInfo,
    options: Options,
    thresholds: Thresholds,
    postgresql: bool = False,
) -> StatsTable:
    """The table of the query whose result columns are ``raw`` (names as the database gave them).

    ``postgresql`` (not DuckDB): the database takes a percentile's fraction from a subquery, so
    that when units have several rows their percentiles are read in the statement that merges
    them, not in a second one that merges them again; several fractions as one array
    (``percentile_cont(ARRAY[…])``, one sort read once per column and arm); and text unit ids are
    compared byte by byte (``QueryPlan.bytewise_units``)."""
    names = tuple(normalise_header(n) for n in raw)
    primary = normalise_header(options.primary or USER_LEVEL_PRIMARY)
    if findings := header_findings(list(raw)):
        return refused(source, findings, primary=primary)
    user = find_column(names, USER_ALIASES, override=options.user_column)
    variant = find_column(names, VARIANT_ALIASES, override=options.variant_column)
    if user is None or variant is None:
        missing = missing_unit_column(names, user=user, variant=variant, has="the query returns")
        return refused(source, [missing], primary=primary)
    src = agg.source(query, raw, names)
    roles = {names.index(user): "user", names.index(variant): "arm"}
    if "segment" in names:
        roles.setdefault(names.index("segment"), "segment")
    kinds, sample = _kinds(fetch, src, names, roles)
    ratios = tuple(
        (spec.name, names.index(spec.numerator), names.index(spec.denominator))
        for spec in options.ratios
        if spec.numerator in names and spec.denominator in names
    )
    named = tuple(spec.name for spec in options.guardrails or () if spec.name in names)
    segment = next((i for i, r in roles.items() if r == "segment"), None)
    layout = _without_non_metrics(
        Layout(
            names,
            kinds,
            names.index(user),
            names.index(variant),
            segment,
            primary,  # type: ignore[arg-type]
            ratios=ratios,
            named_guardrails=named,
        ),
        sample,
        metrics=options.metrics,
    )
    ids = (r[user] for r in sample)
    text_ids = isinstance(next((i for i in ids if i is not None), None), str)
    return _read(
        fetch,
        src,
        layout,
        source,
        options,
        thresholds,
        postgresql,
        bytewise=postgresql and text_ids,
    )


def _without_non_metrics(
    layout: Layout, sample: list[dict[str, Any]], *, metrics: tuple[str, ...] | None
) -> Layout:
    """The layout with every column that is not an outcome read as text (never aggregated) and
    the reason in ``Layout.skipped``, by the CSV reader's rules (identifiers, dates, calendar
    periods…, judged on the sampled rows), so that both say the same columns were not tested."""
    names = layout.names
    primary = layout.index(layout.primary)
    kept = {primary, *(i for _, x, y in layout.ratios for i in (x, y))}
    kinds, skipped = list(layout.kinds), list(layout.skipped)
    for i, name in enumerate(names):
        if kinds[i] in ("user", "arm", "segment") or i in kept or layout.is_guardrail(i):
            continue
        if is_pre_period(name):
            continue
        if metrics is not None:
            why = None if name in metrics else "not named in metrics"
        elif kinds[i] == "date":
            why = "date or timestamp"
        else:
            cells = ["" if r[name] is None else str(r[name]) for r in sample]
            why = not_a_metric(name, cells, position=i)
        if why:
            kinds[i] = "text"
            skipped.append((name, why))
    return replace(layout, kinds=tuple(kinds), skipped=tuple(skipped))


def _kinds(
    fetch: Fetch, src: sa.Subquery, raw: Sequence[str], roles: dict[int, str]
) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """Each column's role, or ``bool``/``num``/``text``/``empty`` by its values' Python type;
    and the sampled rows."""
    rows = fetch(agg.sample(src, SAMPLE_ROWS))
    kinds = []
    for i, name in enumerate(raw):
        if i in roles:
            kinds.append(roles[i])
            continue
        value = next((r[name] for r in rows if r[name] is not None), None)
        if value is None:
            found = fetch(agg.first_value(src, name))
            value = found[0][name] if found else None
        kinds.append(_kind(value))
    return tuple(kinds), rows


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "num"
    return "date" if isinstance(value, dt.date) else "text"


def _read(
    fetch: Fetch,
    src: sa.Subquery,
    layout: Layout,
    source: SourceInfo,
    options: Options,
    thresholds: Thresholds,
    postgresql: bool,
    *,
    bytewise: bool = False,
) -> StatsTable:
    names, kinds = layout.names, layout.kinds
    p = layout.index(layout.primary)
    plan = agg.QueryPlan(
        names, layout.user, layout.variant, layout.segment, p, kinds=kinds, bytewise_units=bytewise
    )
    numbers = [i for i, k in enumerate(kinds) if k == "num"]
    raw = fetch(
        agg.raw_summary(
            src, plan, numbers=numbers, guardrails=[i for i in numbers if layout.is_guardrail(i)]
        )
    )
    summary = _summary(raw)
    source = replace(source, rows=int(summary["rows"]))
    if not summary["rows"]:
        return refused(
            source,
            [Finding("blocked", "no_rows", "The query returned no rows.")],
            primary=layout.primary,
        )
    binary = tuple(
        i
        for i, k in enumerate(kinds)
        if k == "bool"
        or (k == "num" and summary[f"ne{i}"] and summary[f"z{i}"] == summary[f"ne{i}"])
    )
    numeric = tuple(i for i in numbers if i not in binary and summary[f"ne{i}"])
    primary_kind = _primary_kind(layout, p, binary, numeric, named=options.primary is not None)
    if primary_kind is None:
        return refused(source, [_no_primary(layout, binary)], primary=layout.primary)
    metrics = _metrics(layout, binary, numeric)
    labels = sorted({label(r["ra"]) for r in raw} - {""})
    raw_labels = {r["ra"] for r in raw if label(r["ra"])}
    codes = (
        tuple((r, labels.index(label(r)) + 1) for r in sorted(raw_labels))
        if len(raw_labels) <= MAX_CODED_LABELS
        else ()
    )
    plan = replace(
        plan,
        binary=binary,
        numeric=numeric,
        pairs=tuple(metrics.pairs.items()),
        ratios=tuple((k, x, y) for k, (x, y) in metrics.ratios.items()),
        codes=codes,
    )
    findings = [
        f
        for f in (
            untested_finding(layout, metrics),
            missing_metrics_finding(layout, options.metrics),
        )
        if f
    ]
    findings += checks.ratio_findings(layout, metrics, options)
    findings += sql_findings.cell_findings(layout, metrics, summary)
    code = {name: k + 1 for k, name in enumerate(labels)} if codes else None
    alpha = thresholds.alpha
    (ids,) = fetch(agg.distinct_units(src, plan))
    kept_arms = {label(r["ra"]) for r in raw if label(r["ra"]) and not r["pm"]}
    arms = _ordered_arms(kept_arms, options)
    ranked = None
    if ids["units"] == ids["rows"]:  # every unit on one row: no per-unit merge, one statement
        n = _kept_numbers(raw, metrics.means)
        requests, keys = _requests(n, arms, metrics.means, code, alpha)
        rows = fetch(agg.analysis(src, plan, metrics.means, requests, multi=postgresql))
        quantile_row = rows[0]
    elif postgresql:  # the percentiles' ranks from each arm's units, in the same statement
        entries = [
            (i, arm, level)
            for arm in arms
            for i in metrics.means
            for level in quantile_stats.LEVELS
        ]
        ranked = agg.Ranked(
            tuple((i, arm if code is None else code[arm], q) for i, arm, q in entries),
            float(norm_isf(alpha / 2)),
        )
        rows = fetch(agg.analysis(src, plan, metrics.means, ranked=ranked, multi=True))
        quantile_row = rows[0]
        units = [int(quantile_row[f"an{k}"] or 0) for k in range(len(entries))]
        keys = [
            (k, arm, i, level, units[k]) for k, (i, arm, level) in enumerate(entries) if units[k]
        ]
    else:
        rows = fetch(agg.analysis(src, plan, metrics.means))
    counts = rows[0] | {"users": rows[0]["units"]}
    findings += sql_findings.user_findings(layout, counts, thresholds)
    arm_of = (lambda a: labels[a - 1]) if codes else (lambda a: a)
    caps = {
        i: float(counts[f"cap{i}"])
        for i in metrics.means
        if counts[f"n{i}"]
        and counts[f"cap{i}"] > 0
        and counts[f"max{i}"] > _OUTLIER_RATIO * counts[f"cap{i}"]
    }
    uncapped = {f"{k}{i}" for i in metrics.means if i not in caps for k in ("cs", "css")}
    groups = _ordered(
        merged(
            [
                group_sums(
                    {k: v for k, v in r.items() if k not in uncapped}
                    | {"a": arm_of(r["a"]), "g": r["g"] or ""}
                )
                for r in rows
                if r["a"] is not None
            ],
            key=by_label,
        ),
        options,
    )
    findings += [sql_findings.outlier(names[i], counts, i) for i in caps]
    if ids["units"] != ids["rows"] and ranked is None:
        n = {}
        for g in groups:
            for i in metrics.means:
                n[(g.arm, i)] = n.get((g.arm, i), 0) + int(g.column(i).numbers or 0)
        arms = list(dict.fromkeys(g.arm for g in groups))
        requests, keys = _requests(n, arms, metrics.means, code, alpha)
        units = agg.per_user(src, plan).subquery("u")
        quantile_row = fetch(agg.percentiles(units, requests))[0] if requests else {}
    name = names.__getitem__
    return StatsTable(
        source,
        layout.primary,
        tuple(findings),
        tuple(GroupStats(g.segment, arm_stats(g, layout, metrics, caps)) for g in groups),
        guardrails=tuple(name(i) for i in metrics.guardrails),
        secondary=tuple(sorted(name(i) for i in metrics.counted() if i not in metrics.guardrails)),
        means=(*map(name, metrics.means), *(name(i) + CAPPED_SUFFIX for i in caps)),
        ratios=tuple(layout.ratios[k][0] for k in metrics.ratios),
        quantiles=tuple(
            QuantileStats(
                names[i],
                arm,
                level,
                count,
                *(_number(quantile_row[f"q{k}_{j}"]) for j in range(3)),
                alpha,
            )
            for k, arm, i, level, count in keys
        ),
        primary_kind=primary_kind,
    )


def _kept_numbers(raw: list[dict[str, Any]], means: Sequence[int]) -> dict[tuple[str, int], int]:
    """Per arm and mean column, its numbers over the kept rows (``raw_summary``'s ``ne{i}``)."""
    n: dict[tuple[str, int], int] = {}
    for r in raw:
        arm = label(r["ra"])
        if arm and not r["pm"]:
            for i in means:
                n[(arm, i)] = n.get((arm, i), 0) + int(r[f"ne{i}"] or 0)
    return n


def _ordered_arms(arms: set[str], options: Options) -> list[str]:
    """As :func:`_ordered` orders groups: control first, then the others alphabetically."""
    control = (options.control or "control").strip().casefold()
    return sorted(arms, key=lambda arm: (arm != control, arm))


def _summary(raw: list[dict[str, Any]]) -> dict[str, Any]:
    """``raw_summary``'s rows per raw label × empty primary as one row: all rows, rows without a
    variant label or primary value, kept rows, and per column the sums its aliases name (``kf{i}``
    over the kept rows, the others over all rows)."""
    out: dict[str, Any] = {"rows": 0, "empty_variant": 0, "empty_primary": 0, "kept": 0}
    for r in raw:
        blank, count = not label(r["ra"]), int(r["rows"])
        out["rows"] += count
        out["empty_variant"] += count if blank else 0
        out["empty_primary"] += count if r["pm"] else 0
        is_kept = not blank and not r["pm"]
        out["kept"] += count if is_kept else 0
        for key, cell in r.items():
            if key in ("ra", "pm", "rows") or (key.startswith("kf") and not is_kept):
                continue
            out[key] = out.get(key, 0) + int(cell or 0)
    return out


def _metrics(layout: Layout, binary: tuple[int, ...], numeric: tuple[int, ...]) -> MetricColumns:
    """Guardrails, means, CUPED pairs and ratios, by ``userlevel``'s rules."""
    names, primary = layout.names, layout.index(layout.primary)
    assert primary is not None
    guardrails = tuple(i for i in (*binary, *numeric) if layout.is_guardrail(i) and i != primary)
    means = tuple(i for i in numeric if not layout.is_guardrail(i) and not is_pre_period(names[i]))
    pre = {i: layout.index(pre_period_of(names[i])) for i in means}
    pairs = {i: q for i, q in pre.items() if q is not None and q in numeric}
    measured = {*binary, *numeric}
    ratios = {
        k: (x, y) for k, (_, x, y) in enumerate(layout.ratios) if x in measured and y in measured
    }
    return MetricColumns(primary, binary, numeric, guardrails, means, pairs, ratios)


def _primary_kind(
    layout: Layout, p: int | None, binary: tuple[int, ...], numeric: tuple[int, ...], *, named: bool
) -> MetricKind | None:
    """A 0/1 primary, or — when the options name it, as for a CSV — a continuous one (a mean);
    None when the query has no such column."""
    if p is None:
        return None
    if p in binary:
        return "proportion"
    usable = p in numeric and not layout.is_guardrail(p) and not is_pre_period(layout.names[p])
    return "mean" if named and usable else None


def _ordered(groups: list[GroupSums], options: Options) -> list[GroupSums]:
    """Control first, then the other arms; segments alphabetically (a query has no row order)."""
    control = (options.control or "control").strip().casefold()
    return sorted(groups, key=lambda g: (g.arm != control, g.arm, g.segment))


def _no_primary(layout: Layout, binary: tuple[int, ...]) -> Finding:
    primary = layout.primary
    if primary in layout.names:
        message = f"The primary metric {primary!r} must be 0/1 or TRUE/FALSE for every user."
    else:
        candidates = ", ".join(layout.names[i] for i in binary) or "none"
        message = (
            f"No {primary!r} column for the primary metric. Say which 0/1 column it is with "
            f"primary (0/1 columns the query returns: {candidates})."
        )
    return Finding("blocked", "missing_primary", message, column=primary)


def _requests(
    n: dict[tuple[str, int], int],
    arms: Sequence[str],
    means: Sequence[int],
    code: dict[str, int] | None,
    alpha: float,
) -> tuple[list[agg.Request], list[Key]]:
    """The percentiles to ask for: the median and p90 of each continuous metric per arm with its
    Woodruff interval's two order statistics (``stats.quantiles``), as
    ``userlevel_breakdowns.quantiles``; and per request its :data:`Key`."""
    requests: list[agg.Request] = []
    keys = []
    for arm in arms:
        for i in means:
            if not n.get((arm, i)):
                continue
            for level in quantile_stats.LEVELS:
                lower, upper = quantile_stats.rank_fractions(n[(arm, i)], level, alpha)
                requests.append((i, arm if code is None else code[arm], (level, lower, upper)))
                keys.append((len(keys), arm, i, level, n[(arm, i)]))
    return requests, keys


def _number(value: object) -> float:
    return float("nan") if value is None else float(value)  # type: ignore[arg-type]
