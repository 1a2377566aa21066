"""Assignment sanity: a column that records the assignment a second time.

A page, version or bucket column whose values track the variant one-to-one (``group`` control /
treatment with ``landing_page`` old_page / new_page) is a second record of which arm each row was
in. When that record disagrees with the variant on a few rows, those rows saw the other arm's
experience (or were logged wrong): the analysis by variant mixes them in, so they are counted and
said. The rule: a text column with as many values as there are arms, where the mapping of each
value to the arm it is most often seen with is one-to-one and covers at least
``MIN_AGREEMENT`` of the kept rows, but not all of them. A column that agrees on every row is
the assignment restated and says nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.duckdb_csv import literal
from experimentos.ingest.sniff import Head
from experimentos.ingest.userlevel_queries import Layout
from experimentos.ingest.userlevel_sums import (
    GroupSums,
    MetricColumns,
    arm_labels,
    blank_labels,
    label,
)
from experimentos.model import Finding

MIN_AGREEMENT = 0.95
"""The share of rows a value-to-arm mapping must cover to be read as a record of the assignment."""
SAMPLE_AGREEMENT = 0.9
"""The share of the sample's rows it must cover for the file to be scanned for it at all."""


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A column that records the assignment, and the kept rows where it disagrees."""

    column: str
    mapping: tuple[tuple[str, str], ...]
    """(value, arm) pairs: the arm each value goes with, by the most rows."""
    rows: int
    disagreeing: int
    lines: tuple[int, ...] = ()


def assignment_findings(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
) -> list[Finding]:
    """A Warning for each column that tracks the variant on nearly every row but not all."""
    return [_finding(d) for d in disagreements(con, path, head, layout, metrics, first)]


def disagreements(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: Head,
    layout: Layout,
    metrics: MetricColumns,
    first: list[GroupSums],
) -> list[Disagreement]:
    """Columns that record the assignment and disagree with the variant on some rows."""
    arms = arm_labels(first)
    columns = _candidates(layout, metrics, head, arms=len(arms))
    if len(arms) < 2 or not columns:
        return []
    csv_file = q.csv_for(path, head, layout)
    blank = blank_labels(first)
    rows = q.dimension_counts(con, csv_file, layout, columns, blank)
    counts: dict[int, dict[tuple[str, str], int]] = {i: {} for i in columns}
    for row in rows:
        i = next(i for i in columns if row[f"d{i}"] is not None)
        key = (label(row[f"d{i}"]), label(row["a"]))
        counts[i][key] = counts[i].get(key, 0) + int(row["users"])
    out = []
    for i in columns:
        found = _tracking(layout.names[i], counts[i], arms)
        if found is None:
            continue
        condition = _disagrees(found.mapping, {g.raw_arm or "" for g in first})
        lines = q.first_lines_by_value(con, csv_file, layout, i, blank, condition)
        out.append(replace(found, lines=tuple(lines)))
    return out


def _candidates(layout: Layout, metrics: MetricColumns, head: Head, *, arms: int) -> list[int]:
    """Text columns, not the user, variant or segment, that may track the variant: no more values
    in the sample than there are arms and, when the sample holds every arm, a value-to-arm
    mapping covering ``SAMPLE_AGREEMENT`` of its rows (the scan decides over the whole file)."""
    measured = {*metrics.binary, *metrics.numeric}
    roles = {layout.user, layout.variant, layout.segment}
    rows = [r for r in head.rows if len(r) == len(layout.names) and label(r[layout.variant])]
    sample_arms = sorted({label(r[layout.variant]) for r in rows})
    out = []
    for i, kind in enumerate(layout.kinds):
        if i in roles or i in measured or kind not in ("text", "any"):
            continue
        if not 2 <= len({label(r[i]) for r in rows}) <= arms:
            continue
        if len(sample_arms) == arms:
            counts: dict[tuple[str, str], int] = {}
            for r in rows:
                key = (label(r[i]), label(r[layout.variant]))
                counts[key] = counts.get(key, 0) + 1
            if _agreement(counts, sample_arms) < SAMPLE_AGREEMENT:
                continue
        out.append(i)
    return out


def _agreement(counts: dict[tuple[str, str], int], arms: list[str]) -> float:
    """The share of rows the one-to-one value-to-arm mapping covers (0 when there is none)."""
    values = sorted({value for value, _ in counts})
    best = {v: max(arms, key=lambda arm, v=v: (counts.get((v, arm), 0), arm)) for v in values}
    if len(set(best.values())) != len(values):
        return 0.0
    rows = sum(counts.values())
    return sum(counts.get(pair, 0) for pair in best.items()) / rows if rows else 0.0


def _tracking(
    column: str, counts: dict[tuple[str, str], int], arms: list[str]
) -> Disagreement | None:
    """The column as a record of the assignment, or None when it is not one (or agrees always)."""
    values = sorted({value for value, _ in counts})
    if len(values) != len(arms) or "" in values:
        return None
    agreement = _agreement(counts, arms)
    rows = sum(counts.values())
    if agreement < MIN_AGREEMENT or agreement == 1.0:
        return None
    mapping = tuple(
        (v, max(arms, key=lambda arm, v=v: (counts.get((v, arm), 0), arm))) for v in values
    )
    agreeing = sum(counts.get(pair, 0) for pair in mapping)
    return Disagreement(column, mapping, rows, rows - agreeing)


def _disagrees(mapping: tuple[tuple[str, str], ...], raw_arms: set[str]) -> str:
    """SQL: the row's value goes with another arm than its variant's."""
    agree = []
    for value, arm in mapping:
        raws = ", ".join(literal(r) for r in sorted(raw_arms) if label(r) == arm)
        agree.append(f"(lower(d) = {literal(value)} AND a IN ({raws}))")
    return f"NOT ({' OR '.join(agree)})"


def _finding(d: Disagreement) -> Finding:
    pairs = ", ".join(f"{value} with {arm}" for value, arm in d.mapping)
    at = f" (first at line {', '.join(map(str, d.lines))})" if d.lines else ""
    share = d.disagreeing / d.rows
    return Finding(
        "warning",
        "assignment_mismatch",
        f"{d.column} records the assignment a second time ({pairs}) but disagrees with the "
        f"variant on {d.disagreeing:,} of {d.rows:,} rows ({share:.2%}){at}: those rows may "
        f"have seen the other arm's experience. They are analysed by their variant; check the "
        f"assignment, or drop them from the export and analyse again.",
        row=d.lines[0] if d.lines else None,
        column=d.column,
    )
