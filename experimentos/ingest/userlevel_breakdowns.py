"""What a user-level file tells beyond its arms' sums: users per arm by each value of its
categorical columns when the split is off (the SRM breakdown), users by the day of their first row,
and the median and p90 of each continuous metric per arm.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import duckdb

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.arms import pooled_arms
from experimentos.ingest.sniff import Head
from experimentos.ingest.stats_table import StatsTable
from experimentos.ingest.userlevel_queries import Layout, Relation
from experimentos.ingest.userlevel_sums import (
    GroupSums,
    MetricColumns,
    arm_labels,
    blank_labels,
    kept_groups,
    label,
    merged,
)
from experimentos.model import DayCount, DimensionCell, Options, QuantileStats, Thresholds
from experimentos.stats import quantiles as quantile_stats
from experimentos.stats.proportions import srm_chi_square

MAX_DIMENSION_VALUES = 50
"""A text column with more values than this is not broken down when the split is off."""
log = logging.getLogger(__name__)


def split_is_off(table: StatsTable, options: Options, thresholds: Thresholds) -> bool:
    """The overall sample ratio check would fire (health repeats it and reports it)."""
    arms = pooled_arms(table.groups)
    shares = options.split or tuple(1.0 for _ in arms)
    if len(arms) < 2 or len(shares) != len(arms) or not sum(a.users for a in arms):
        return False
    if any(f.severity == "blocked" for f in table.findings):
        return False
    _, p_value = srm_chi_square([a.users for a in arms], shares)
    return p_value < thresholds.srm_warning_p


def _categorical_columns(layout: Layout, metrics: MetricColumns, head: Head) -> tuple[int, ...]:
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


def dimensions(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: MetricColumns,
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
        labels = ("", *arm_labels(first))
        rows = q.dimension_counts(
            con, q.csv_for(path, head, keyed_layout), keyed_layout, columns, (), labels=labels
        )
    else:
        rows = q.dimension_counts(
            con, q.csv_for(path, head, layout), layout, columns, blank_labels(first)
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


def by_day(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    first: list[GroupSums],
    *,
    keyed: bool,
    proportion: bool = True,
) -> tuple[str | None, tuple[DayCount, ...]]:
    """Users per arm by the day of their first row, when a date or timestamp column exists
    (with the converted among them when the primary is 0/1)."""
    column = q.date_column(layout, head)
    if column is None:
        return None, ()
    if keyed:
        keyed_layout = layout.keyed()
        labels = ("", *arm_labels(first))
        csv_file = q.csv_for(path, head, keyed_layout)
        rows = q.first_day_counts(
            con, csv_file, keyed_layout, column, (), labels=labels, proportion=proportion
        )
    else:
        csv_file = q.csv_for(path, head, layout)
        rows = q.first_day_counts(
            con, csv_file, layout, column, blank_labels(first), proportion=proportion
        )
    users: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        if row["day"] is not None:
            key = (row["day"], label(row["a"]))
            n, y = users.get(key, (0, 0))
            users[key] = (n + int(row["users"]), y + int(row["converted"] or 0))
    counts = tuple(DayCount(day, arm, n, y) for (day, arm), (n, y) in sorted(users.items()))
    return layout.names[column], counts


def quantiles(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    layout: Layout,
    metrics: MetricColumns,
    groups: list[GroupSums],
    first: list[GroupSums],
    alpha: float,
    *,
    cap_level: float,
) -> tuple[tuple[QuantileStats, ...], dict[int, float]]:
    """The median and p90 of each continuous metric per arm, each with the two order statistics
    of its Woodruff interval (``stats.quantiles``), and each metric's ``cap_level`` quantile over
    every arm's users (the outlier cap): one scan of the users for all of them, exact, keeping
    only the values in a window around each percentile that a sample points at (the first pass's
    samples of the rows, or for merged users a scan of the ``per_user`` table)."""
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
    entries = [(arm, i) for arm in arms for i in metrics.means if users[(arm, i)]]
    # every arm with a value of column i: its counts add up from the arms' (one scan for both)
    everyone = {
        i: tuple(a for arm in arms if users[(arm, i)] for a in members[arm]) for i in metrics.means
    }
    capped = [i for i in metrics.means if everyone[i]]
    entries += [(_EVERY_ARM, i) for i in capped]
    samples = _samples(con, relation, first, entries, members | {_EVERY_ARM: ()}, everyone)
    requests, windows, keys = [], [], []
    for arm, i in entries:
        if arm == _EVERY_ARM:
            requests.append((i, everyone[i], (cap_level,)))
            windows.append(_window(samples[(arm, i)], len(quantile_stats.LEVELS)))
            continue
        n = users[(arm, i)]
        margin = q.WINDOW_MARGIN / 2  # the rest of the margin absorbs the sample's own error
        for k, level in enumerate(quantile_stats.LEVELS):
            lower, upper = quantile_stats.rank_fractions(n, level, alpha)
            requests.append((i, members[arm], (level, lower, upper)))
            near = level - margin <= lower and upper <= level + margin
            windows.append(_window(samples[(arm, i)], k) if near else None)
            keys.append((arm, i, level, n))
    values = q.quantiles(con, relation, requests, windows)
    per_arm, per_metric = values[: len(keys)], values[len(keys) :]  # the caps' entries come last
    stats = tuple(
        QuantileStats(layout.names[i], arm, level, n, *map(_number, found), alpha)
        for (arm, i, level, n), found in zip(keys, per_arm, strict=True)
    )
    return stats, {i: _number(found[0]) for i, found in zip(capped, per_metric, strict=True)}


def _samples(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    first: list[GroupSums],
    entries: list[tuple[str, int]],
    members: dict[str, tuple[str, ...] | tuple[int, ...]],
    everyone: dict[int, tuple[str, ...] | tuple[int, ...]],
) -> dict[tuple[str, int], tuple[float, ...]]:
    """Per (arm, column) the sampled quantiles at ``q.SAMPLED_FRACTIONS``: the first pass's, when
    the rows are the users; else sampled from the ``per_user`` table."""
    if relation.labels:
        arms = [everyone[i] if arm == _EVERY_ARM else members[arm] for arm, i in entries]
        found = q.sampled_windows(
            con, relation, [(i, arm) for (_, i), arm in zip(entries, arms, strict=True)]
        )
        return dict(zip(entries, found, strict=True))
    kept = kept_groups(first)
    sums = {g.arm: g for g in merged(kept, key=lambda g: (label(g.raw_arm), ""))}
    sums |= {g.arm: g for g in merged(kept, key=lambda g: (_EVERY_ARM, ""))}
    return {(arm, i): sums[arm].column(i).sampled if arm in sums else () for arm, i in entries}


_EVERY_ARM = "\0every arm"
"""The key of the outlier cap's entry: every arm's users together."""


def _window(sampled: tuple[float, ...], k: int) -> tuple[float, float] | None:
    """The value range that most likely holds a percentile: the sampled quantiles of window k of
    ``q.SAMPLED_FRACTIONS`` (None: no window, every value is counted)."""
    if len(sampled) <= 2 * k + 1:
        return None
    low, high = sampled[2 * k], sampled[2 * k + 1]
    if low is None or high is None or not math.isfinite(low) or not math.isfinite(high):
        return None
    return float(low), float(high)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)
