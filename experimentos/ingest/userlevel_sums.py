"""The sums DuckDB computes over a user-level file, per group of rows, as typed values.

A group is one raw variant label (× raw segment × "primary cell empty" in the first pass) or, once
labels are normalised and merged, one arm in one segment. Every figure a query returns lands in a
field here; ``userlevel_queries`` is the only place that knows the SQL aliases (``t{i}``,
``nn{i}``, ``rxy{k}``, …) and :func:`group_sums` the only place that reads them.

A SQL sum over no value is NULL, kept as None: adding None to a number gives the number, so that
merged groups add up as the rows they hold would (pandas' sum of nothing is 0, as ``value`` says).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


def _plus(a: float | None, b: float | None) -> float | None:
    if b is None:
        return a
    return b if a is None else a + b


def value(total: float | None) -> float:
    """A sum of no rows is NULL in SQL and 0 here (pandas' sum of nothing)."""
    return float(total or 0)


@dataclass(frozen=True, slots=True)
class ColumnSums:
    """Column i over a group's rows."""

    filled: int | None = None
    """Cells that are not blank."""
    words: int | None = None
    """Cells that are boolean words (TRUE/FALSE/yes/no/1/0)."""
    ones: float | None = None
    """Cells read as 1 (true)."""
    numbers: int | None = None
    """Cells read as numbers; ``total`` and ``total_sq`` are their Σx and Σx²."""
    total: float | None = None
    total_sq: float | None = None
    not_counts: int | None = None
    """Numbers that are negative or not whole (a guardrail's count must be neither)."""
    largest: float | None = None
    """The largest number."""
    sampled: tuple[float, ...] = ()
    """Per reported percentile, a sample's quantiles a little below and a little above it: a
    window that most likely holds the exact percentile (``userlevel_queries.SAMPLED_FRACTIONS``).
    Merged groups keep the lowest of the lower ends and the highest of the upper ends, so the
    window still holds the merged rows' percentile (it lies between the groups' own)."""
    pre_total: float | None = None
    """Σx, Σx² of the column's ``pre_`` covariate and Σxy, over rows with a value of column i."""
    pre_total_sq: float | None = None
    cross_total: float | None = None
    capped_total: float | None = None
    """Σ min(x, cap) and Σ min(x, cap)² when the column has an extreme outlier."""
    capped_total_sq: float | None = None

    def __add__(self, other: ColumnSums) -> ColumnSums:
        values = {
            f.name: _plus(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if f.name not in ("largest", "sampled")
        }
        tops = [x for x in (self.largest, other.largest) if x is not None]
        return ColumnSums(
            **values,
            largest=max(tops) if tops else None,
            sampled=_widest(self.sampled, other.sampled),
        )


def _widest(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    """Windows (lower, upper, lower, upper, …) that hold both ``a``'s and ``b``'s."""
    if not a or not b:
        return a or b
    return tuple(
        min(x, y) if k % 2 == 0 else max(x, y) for k, (x, y) in enumerate(zip(a, b, strict=True))
    )


@dataclass(frozen=True, slots=True)
class RatioSums:
    """Ratio k over the group's users that have both parts: n, Σx, Σx², Σy, Σy², Σxy."""

    n: int | None = None
    num_total: float | None = None
    num_total_sq: float | None = None
    den_total: float | None = None
    den_total_sq: float | None = None
    cross_total: float | None = None

    def __add__(self, other: RatioSums) -> RatioSums:
        return RatioSums(
            *(_plus(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))
        )


@dataclass(frozen=True, slots=True)
class GroupSums:
    """One group of rows (or of users) and the sums of each column and ratio over it."""

    raw_arm: str | None
    """The variant label as written (trimmed and case-folded into ``arm`` when merged)."""
    raw_segment: str | None = None
    primary_missing: bool = False
    """The first pass's groups split rows whose primary cell is empty from the others."""
    rows: int = 0
    users: int = 0
    first_line: int | None = None
    columns: Mapping[int, ColumnSums] = field(default_factory=dict)
    ratios: Mapping[int, RatioSums] = field(default_factory=dict)
    ids: int = 0
    """Rows with a user id (the bitmap path)."""
    id_bits: int | None = None
    """Distinct ids in the bitmap over every group (the same in each group of the first pass)."""
    arm: str = ""
    segment: str = ""

    def column(self, i: int) -> ColumnSums:
        return self.columns.get(i) or ColumnSums()

    def ratio(self, k: int) -> RatioSums:
        return self.ratios.get(k) or RatioSums()

    def __add__(self, other: GroupSums) -> GroupSums:
        """Both groups' rows as one (the labels and bitmap count are this group's)."""
        lines = [line for line in (self.first_line, other.first_line) if line is not None]
        return replace(
            self,
            rows=self.rows + other.rows,
            users=self.users + other.users,
            first_line=min(lines) if lines else None,
            columns=_add_maps(self.columns, other.columns),
            ratios=_add_maps(self.ratios, other.ratios),
            ids=self.ids + other.ids,
        )


def with_capped(group: GroupSums, capped: GroupSums | None, caps: dict[int, float]) -> GroupSums:
    """The group with the capped sums of the metrics in ``caps`` (none: a sum of no rows)."""
    columns = dict(group.columns)
    for i in caps:
        sums = capped.column(i) if capped is not None else ColumnSums()
        columns[i] = replace(
            group.column(i), capped_total=sums.capped_total, capped_total_sq=sums.capped_total_sq
        )
    return replace(group, columns=columns)


def _add_maps(a: Mapping[int, Any], b: Mapping[int, Any]) -> dict[int, Any]:
    return {k: a[k] + b[k] if k in a and k in b else a.get(k) or b[k] for k in {**a, **b}}


_COLUMN_ALIASES = {
    "ne": "filled",
    "w": "words",
    "t": "ones",
    "nn": "numbers",
    "s": "total",
    "ss": "total_sq",
    "nc": "not_counts",
    "mx": "largest",
    "rq": "sampled",
    "px": "pre_total",
    "pxx": "pre_total_sq",
    "pxy": "cross_total",
    "cs": "capped_total",
    "css": "capped_total_sq",
}
_RATIO_ALIASES = {
    "rn": "n",
    "rx": "num_total",
    "rxx": "num_total_sq",
    "ry": "den_total",
    "ryy": "den_total_sq",
    "rxy": "cross_total",
}
_ALIAS = re.compile(r"([a-z]+)(\d+)")


def group_sums(row: Mapping[str, Any]) -> GroupSums:
    """A row of a grouped query (``userlevel_queries``' aliases) as typed sums."""
    columns: dict[int, dict[str, Any]] = {}
    ratios: dict[int, dict[str, Any]] = {}
    for name, cell in row.items():
        match = _ALIAS.fullmatch(name)
        if not match:
            continue
        prefix, position = match.group(1), int(match.group(2))
        if prefix in _COLUMN_ALIASES:
            target = _COLUMN_ALIASES[prefix]
            cell = tuple(cell or ()) if target == "sampled" else cell
            columns.setdefault(position, {})[target] = cell
        elif prefix in _RATIO_ALIASES:
            ratios.setdefault(position, {})[_RATIO_ALIASES[prefix]] = cell
    return GroupSums(
        raw_arm=row.get("a"),
        raw_segment=row.get("g"),
        primary_missing=bool(row.get("pm")),
        rows=int(row.get("rows") or 0),
        users=int(row.get("users") or 0),
        first_line=row.get("first_line"),
        columns={i: ColumnSums(**sums) for i, sums in columns.items()},
        ratios={k: RatioSums(**sums) for k, sums in ratios.items()},
        ids=int(row.get("un") or 0),
        id_bits=row.get("ubits"),
    )


def label(raw: str | None) -> str:
    """A variant or segment label as compared: trimmed and case-folded."""
    return (raw or "").strip().casefold()


def merged(
    groups: Iterable[GroupSums], *, key: Callable[[GroupSums], tuple[str, str]]
) -> list[GroupSums]:
    """Add up groups with the same key (labels that differ only in case or spaces, say), in the
    order keys first appear; each merged group carries its key as ``arm`` and ``segment``."""
    out: dict[tuple[str, str], GroupSums] = {}
    for group in groups:
        k = key(group)
        out[k] = out[k] + group if k in out else replace(group, arm=k[0], segment=k[1])
    return list(out.values())


def by_label(group: GroupSums) -> tuple[str, str]:
    return label(group.raw_arm), label(group.raw_segment)


def total(groups: list[GroupSums]) -> GroupSums:
    """Every group's rows as one (an empty group when there is none)."""
    return merged(groups, key=lambda g: ("", ""))[0] if groups else GroupSums(None)


def kept_groups(first: list[GroupSums]) -> list[GroupSums]:
    """Groups of rows with a variant label and a primary value."""
    return [g for g in first if label(g.raw_arm) and not g.primary_missing]


def arm_labels(first: list[GroupSums]) -> list[str]:
    """The variant labels, normalised and sorted (arm codes 1, 2, … of the keyed path)."""
    return sorted({label(g.raw_arm) for g in first} - {""})


def blank_labels(first: list[GroupSums]) -> tuple[str, ...]:
    """Raw variant labels that are blank once trimmed."""
    return tuple(g.raw_arm or "" for g in first if not label(g.raw_arm))


@dataclass(frozen=True, slots=True)
class MetricColumns:
    """What the columns turned out to be over the whole file (column positions)."""

    primary: int
    """The primary's column, -1 for a ratio primary."""
    binary: tuple[int, ...]
    numeric: tuple[int, ...]
    guardrails: tuple[int, ...]
    means: tuple[int, ...]
    pairs: dict[int, int]
    """Mean column → its ``pre_`` covariate column."""
    ratios: dict[int, tuple[int, int]]
    """Ratio k of ``Layout.ratios`` whose two columns are numeric → (numerator, denominator)."""

    @property
    def proportion(self) -> bool:
        """The primary is a 0/1 column (else a continuous column, or a ratio at -1)."""
        return self.primary in self.binary

    def counted(self) -> list[int]:
        """0/1 columns other than the primary, then guardrails (counts of events)."""
        counted = [i for i in self.binary if i != self.primary]
        return counted + [i for i in self.guardrails if i not in counted]
