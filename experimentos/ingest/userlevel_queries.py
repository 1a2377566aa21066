"""The SQL of user-level files: column types guessed from a sample, and the queries DuckDB runs.

Names in the queries: ``a`` the raw variant label, ``g`` the segment, ``u`` the user id, ``pm``
"the primary cell is empty", and per column position i: ``b{i}`` a 0/1 value, ``v{i}`` a number,
``s{i}`` a trimmed cell. Aggregates: ``rows``/``users``, ``t{i}`` the count of 1s, ``nn{i}`` the
count of numbers, ``s{i}``/``ss{i}`` their sum and sum of squares, ``top{i}`` the largest values,
``px{i}``/``pxx{i}``/``pxy{i}`` the CUPED sums with column i's ``pre_`` covariate, and per ratio
metric k ``rn{k}`` the users with both parts and ``rx``/``rxx``/``ry``/``ryy``/``rxy{k}`` the sums
of its numerator x and denominator y. Grouped rows come back as typed ``userlevel_sums.GroupSums``:
these aliases never leave this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb

from experimentos.ingest.columns import (
    FALSE_WORDS,
    TRUE_WORDS,
    is_guardrail,
    is_pre_period,
    pre_period_of,
)
from experimentos.ingest.duckdb_csv import (
    BOOLEAN_WORDS,
    FALSE_LIST,
    TRUE_LIST,
    CsvFile,
    bounded_memory,
    execute,
    fetch,
    literal,
    trimmed,
)
from experimentos.ingest.numbers import NumberFormat
from experimentos.ingest.sniff import HEAD_BYTES, Head
from experimentos.ingest.userlevel_sums import GroupSums, group_sums
from experimentos.model import RepeatedRule
from experimentos.stats import quantiles as quantile_stats

__all__ = ["Head", "Layout", "Relation"]

Kind = Literal["user", "arm", "segment", "bool", "num", "any", "text"]
"""bool: every cell a boolean word (read as BOOLEAN); num: numbers (DOUBLE); any: undecided from
the sample (VARCHAR, both readings computed); text: neither 0/1 nor numeric (not aggregated)."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
"""A number as pandas' parser reads it (ASCII digits, no thousands separators)."""
_INTEGER = re.compile(r"-?\d{1,18}")
EMPTY_PRIMARY = "pm"
SAMPLE_SIZE = 50_000
"""Values a reservoir keeps to guess where a percentile lies (its rank error, about
√(q(1−q)/50,000) ≤ 0.23%, is a fifth of ``WINDOW_MARGIN``)."""
WINDOW_MARGIN = 0.01
CAP_WINDOW = (0.998, 0.9999)
"""Around the 99.9th percentile (the outlier cap) the sample's rank error is √(0.001/50,000) ≈
0.014%: the window reaches seven times that below it and 0.09% (twenty times) above."""
SAMPLED_FRACTIONS = (
    *(f for level in quantile_stats.LEVELS for f in (level - WINDOW_MARGIN, level + WINDOW_MARGIN)),
    *CAP_WINDOW,
)
"""Per reported percentile, then for the outlier cap, the two fractions whose sampled values
bound the window of the exact pass (``quantiles``)."""
_MAX_BITMAP_BITS = 1 << 26
_MIN_BITMAP_BITS = 1 << 16


def empty_arm(blank: tuple[str, ...]) -> str:
    """Rows whose variant label is blank; ``blank`` lists such raw labels (from the first pass)."""
    return f"a IN ({', '.join(map(literal, blank))})" if blank else "false"


def kept(blank: tuple[str, ...]) -> str:
    return f"NOT pm AND NOT ({empty_arm(blank)})"


@dataclass(frozen=True, slots=True)
class Layout:
    """The role and read type of each column."""

    names: tuple[str, ...]
    kinds: tuple[Kind, ...]
    user: int
    variant: int
    segment: int | None
    primary: str
    user_type: Literal["BIGINT", "VARCHAR"] = "VARCHAR"
    bitmap: tuple[int, int] | None = None
    ratios: tuple[tuple[str, int, int], ...] = ()
    """Ratio metrics whose two columns the file has: (name, numerator, denominator positions)."""
    named_guardrails: tuple[str, ...] = ()
    """Columns named as guardrails by the guardrails option (besides every ``guardrail_*``)."""
    skipped: tuple[tuple[str, str], ...] = ()
    """Columns read as text because they are not outcomes: (name, why), in file order."""
    formats: tuple[tuple[int, NumberFormat], ...] = ()
    """Columns of numbers written with separators or percent signs, converted in SQL."""

    def number_format(self, i: int) -> NumberFormat | None:
        return dict(self.formats).get(i)

    def index(self, name: str) -> int | None:
        return self.names.index(name) if name in self.names else None

    def is_guardrail(self, i: int) -> bool:
        return is_guardrail(self.names[i], named=self.named_guardrails)

    @property
    def guardrail_columns(self) -> tuple[int, ...]:
        """Guardrail columns that hold metrics or text (not the user, variant or segment)."""
        return tuple(
            i
            for i, k in enumerate(self.kinds)
            if k in ("bool", "num", "any", "text") and self.is_guardrail(i)
        )

    @property
    def metric_columns(self) -> tuple[int, ...]:
        return tuple(i for i, k in enumerate(self.kinds) if k in ("bool", "num", "any"))

    def types(self) -> tuple[str, ...]:
        read = {"bool": "BOOLEAN", "num": "DOUBLE", "user": self.user_type}
        return tuple(read.get(kind, "VARCHAR") for kind in self.kinds)

    def widened(self, column: int | None, value: str) -> Layout:
        """The layout once a cell (``value``, as read) did not fit the type guessed for ``column``."""
        if column is None:  # unknown: read every metric as text and decide in SQL
            kinds = tuple("any" if k in ("bool", "num") else k for k in self.kinds)
            return replace(self, kinds=kinds, user_type="VARCHAR", bitmap=None)
        if column == self.user or self.kinds[column] not in ("bool", "num"):
            return replace(self, user_type="VARCHAR", bitmap=None)
        cell = value.strip()
        number = bool(_NUMBER.fullmatch(cell))
        if not cell or (number and self.kinds[column] == "num"):
            kind: Kind = "any"  # blank or odd white space around a number: trimmed in SQL
        elif cell.casefold() in TRUE_WORDS | FALSE_WORDS and self.kinds[column] == "bool":
            kind = "any"  # a boolean word with white space around it
        elif number:
            kind = "num"  # a 0/1 column with a count in it
        else:  # a number column with a word in it, or text: neither 0/1 nor numeric
            kind = "text"
        return replace(self, kinds=(*self.kinds[:column], kind, *self.kinds[column + 1 :]))

    def keyed(self) -> Layout:
        """User ids compared as the trimmed strings they are."""
        return replace(self, user_type="VARCHAR", bitmap=None)


def guess_layout(
    head: Head,
    names: tuple[str, ...],
    *,
    user: str,
    variant: str,
    primary: str,
    size_bytes: int,
) -> Layout:
    """Read types from the sample; a wrong guess costs a retry, never a wrong figure."""
    segment = names.index("segment") if "segment" in names else None
    roles: dict[int, Kind] = {names.index(user): "user", names.index(variant): "arm"}
    if segment is not None:
        roles.setdefault(segment, "segment")
    rows = [r for r in head.rows if len(r) == len(names)]
    columns = [set(c) for c in zip(*rows, strict=True)] if rows else [set() for _ in names]
    kinds = tuple(roles.get(i) or _kind(columns[i]) for i in range(len(names)))
    layout = Layout(names, kinds, names.index(user), names.index(variant), segment, primary)
    ids = [c.strip() for c in columns[layout.user] if c.strip()]
    if not ids or not all(_INTEGER.fullmatch(c) for c in ids):
        return layout
    rows_guess = len(rows) if head.complete else len(rows) * size_bytes // HEAD_BYTES
    bitmap = _bitmap(min(map(int, ids)), max(map(int, ids)), rows_guess)
    return replace(layout, user_type="BIGINT", bitmap=bitmap) if bitmap else layout


def _bitmap(low: int, high: int, rows: int) -> tuple[int, int] | None:
    """Id range for the bitmap: from 0 for small positive ids, with room for ids not yet seen."""
    start = 0 if low >= 0 and high < _MAX_BITMAP_BITS else low - _MAX_BITMAP_BITS // 4
    needed = max(4 * (high - start + 1), 2 * rows, _MIN_BITMAP_BITS)
    bits = min(1 << (needed - 1).bit_length(), _MAX_BITMAP_BITS)
    return (start, start + bits - 1) if high < start + bits else None


def wider_bitmap(layout: Layout) -> Layout:
    """After an id outside the bitmap: the largest bitmap, else no bitmap (the keyed path)."""
    if layout.bitmap and layout.bitmap[1] - layout.bitmap[0] + 1 < _MAX_BITMAP_BITS:
        start = layout.bitmap[0]
        return replace(layout, bitmap=(start, start + _MAX_BITMAP_BITS - 1))
    return layout.keyed()


def _kind(cells: set[str]) -> Kind:
    filled = {c.strip() for c in cells} - {""}
    if not filled or any(c and not c.strip() for c in cells):
        return "any"  # nothing to go by, or blank cells that a typed read would reject
    if {c.casefold() for c in filled} <= TRUE_WORDS | FALSE_WORDS:
        return "bool" if all(c == c.strip() for c in cells) else "any"
    if all(_NUMBER.fullmatch(c) for c in filled):
        return "num" if all(c.strip(" \t") == c.strip() for c in cells) else "any"
    return "text"


def classify(layout: Layout, totals: GroupSums) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(0/1 columns, numeric columns) over the whole file, in file order (pandas' rules)."""
    binary, numeric = [], []
    for i in layout.metric_columns:
        kind = layout.kinds[i]
        if kind == "bool":
            binary.append(i)
            continue
        sums = totals.column(i)
        filled = sums.filled or 0
        if kind == "any" and filled and sums.words == filled:
            binary.append(i)
            continue
        numbers = sums.numbers or 0
        squares = sums.total_sq
        if kind == "num":
            filled = numbers
        finite = squares is not None and math.isfinite(squares)
        if kind in ("num", "any") and numbers and numbers == filled and finite:
            numeric.append(i)
    return tuple(binary), tuple(numeric)


def csv_for(path: Path, head: Head, layout: Layout) -> CsvFile:
    return CsvFile(path, head, layout.types())


# --------------------------------------------------------------------------- projections


def _projection(layout: Layout, *, keyed: bool = False) -> list[str]:
    """The per-row expressions every query starts from."""
    columns = [f"coalesce(c{layout.variant}, '') AS a", f"{_primary_missing(layout)} AS pm"]
    # Raw labels, as for the variant: the few groups are trimmed and case-folded in Python.
    segment = "''" if layout.segment is None else f"coalesce(c{layout.segment}, '')"
    columns.append(f"{segment} AS g")
    if keyed:
        columns.append(f"coalesce({trimmed(f'c{layout.user}')}, '') AS u")
    elif layout.bitmap:
        columns.append(f"c{layout.user} AS u")
    for i in layout.metric_columns:
        kind = layout.kinds[i]
        if kind == "bool":
            columns.append(f"c{i} AS b{i}")
        elif kind == "num":
            columns.append(f"c{i} AS v{i}")
        else:
            cell = trimmed(f"c{i}")
            fmt = layout.number_format(i)
            value = fmt.sql(cell) if fmt else f"TRY_CAST({cell} AS DOUBLE)"
            columns += [f"{cell} AS s{i}", f"{value} AS v{i}"]
    for i in layout.guardrail_columns:  # a guardrail of text is reported with its lines
        if layout.kinds[i] == "text":
            columns.append(f"{trimmed(f'c{i}')} AS s{i}")
    return columns


def _primary_missing(layout: Layout) -> str:
    p = layout.index(layout.primary)
    if p is None or layout.kinds[p] not in ("bool", "any"):
        return "false"
    if layout.kinds[p] == "bool":
        return f"c{p} IS NULL"
    return f"{trimmed(f'c{p}')} IS NULL"


def _rows(
    csv_file: CsvFile,
    layout: Layout,
    *,
    lines: bool = False,
    keyed: bool = False,
    extra: tuple[str, ...] = (),
) -> str:
    select = ", ".join([*_projection(layout, keyed=keyed), *extra])
    if lines:  # a streaming window: numbers rows in file order (the line is the number + 1)
        select = f"row_number() OVER () + 1 AS line, {select}"
    return f"(SELECT {select} FROM {csv_file.read()})"


# --------------------------------------------------------------------------- first pass


def first_pass(
    con: duckdb.DuckDBPyConnection, csv_file: CsvFile, layout: Layout, size_bytes: int
) -> list[GroupSums]:
    """Per raw label × segment × "primary empty": everything the fast path and the column rules
    need (the segment is a group key only when the file has one)."""
    aggregates = ["count(*) AS rows", *_column_aggregates(layout)]
    for k, (_, x, y) in enumerate(layout.ratios):
        if layout.kinds[x] != "text" and layout.kinds[y] != "text":
            aggregates += ratio_aggregates(k, _raw_value(layout, x), _raw_value(layout, y))
    if layout.bitmap:
        low, high = layout.bitmap
        aggregates += ["count(u) AS un", f"bitstring_agg(u, {low}, {high}) AS ubm"]
    keys = "a, pm" if layout.segment is None else "a, g, pm"
    sql = f"SELECT {keys}, {', '.join(aggregates)} FROM {_rows(csv_file, layout)} GROUP BY {keys}"
    if layout.bitmap:
        sql = f"SELECT * EXCLUDE (ubm), bit_count(bit_or(ubm) OVER ()) AS ubits FROM ({sql})"
    return [group_sums(row) for row in fetch(con, sql)]


def _column_aggregates(layout: Layout) -> list[str]:
    out = []
    for i in layout.metric_columns:
        kind, name = layout.kinds[i], layout.names[i]
        if kind == "bool":  # the sample showed a filled cell, and every cell is a boolean word
            out += [f"count(b{i}) AS ne{i}", f"count_if(b{i}) AS t{i}"]
            continue
        if kind == "num":  # a blank cell is read as NULL
            out.append(f"count(v{i}) AS ne{i}")
        if kind == "any":
            word = f"lower(s{i})"
            out += [
                f"count(s{i}) AS ne{i}",
                f"count_if({word} IN {BOOLEAN_WORDS}) AS w{i}",
                f"count_if({word} IN {TRUE_LIST}) AS t{i}",
            ]
        out += _numeric_aggregates(i)
        if layout.is_guardrail(i):
            out.append(f"count_if({not_a_count(i)}) AS nc{i}")
        elif not is_pre_period(name):
            out += [f"max(v{i}) AS mx{i}", sampled_quantiles(f"v{i}", i)]
            pre = layout.index(pre_period_of(name))
            if pre is not None and layout.kinds[pre] in ("num", "any"):
                out += _pair_aggregates(i, pre)
    return out


def sampled_quantiles(value: str, alias: int | str, where: str = "") -> str:
    """A sample's quantiles at ``SAMPLED_FRACTIONS`` (bounded memory, whatever the rows)."""
    fractions = ", ".join(map(repr, SAMPLED_FRACTIONS))
    condition = f" FILTER (WHERE {where})" if where else ""
    return (
        f"reservoir_quantile({value}::DOUBLE, [{fractions}], {SAMPLE_SIZE}){condition} AS rq{alias}"
    )


def _numeric_aggregates(i: int) -> list[str]:
    return [f"count(v{i}) AS nn{i}", f"sum(v{i}) AS s{i}", f"sum(v{i} * v{i}) AS ss{i}"]


def _pair_aggregates(i: int, pre: int) -> list[str]:
    present = f"FILTER (WHERE v{i} IS NOT NULL)"
    return [
        f"sum(v{pre}) {present} AS px{i}",
        f"sum(v{pre} * v{pre}) {present} AS pxx{i}",
        f"sum(v{i} * v{pre}) AS pxy{i}",
    ]


def ratio_aggregates(k: int, x: str, y: str) -> list[str]:
    """Ratio k's sufficient statistics over the rows (users) that have both of its parts."""
    both = f"FILTER (WHERE {x} IS NOT NULL AND {y} IS NOT NULL)"
    return [
        f"count(*) {both} AS rn{k}",
        f"sum({x}) {both} AS rx{k}",
        f"sum({x} * {x}) {both} AS rxx{k}",
        f"sum({y}) {both} AS ry{k}",
        f"sum({y} * {y}) {both} AS ryy{k}",
        f"sum({x} * {y}) AS rxy{k}",
    ]


def _raw_value(layout: Layout, i: int) -> str:
    """Column i of a raw row as a number: 0/1 for boolean words, NULL when blank or text."""
    if layout.kinds[i] == "bool":  # a blank 0/1 cell is a 0, as in the counts
        return f"coalesce(b{i}::DOUBLE, 0.0)"
    if layout.kinds[i] == "num":
        return f"v{i}"
    word = f"lower(s{i})"
    return f"coalesce(v{i}, CASE WHEN {word} IN {TRUE_LIST} THEN 1.0 WHEN {word} IN {FALSE_LIST} THEN 0.0 END)"


def not_a_count(i: int) -> str:
    """A number that is not a count; a blank cell is not one (it is reported as blank)."""
    return f"(v{i} < 0 OR v{i} <> trunc(v{i}))"


def blank_cell(layout: Layout, i: int) -> str:
    """Column i's cell is empty once trimmed."""
    kind = layout.kinds[i]
    return f"{'b' if kind == 'bool' else 'v' if kind == 'num' else 's'}{i} IS NULL"


def neither_count_nor_boolean(layout: Layout, i: int) -> str:
    """Column i's cell is filled with something that is neither a number nor a boolean word."""
    if layout.kinds[i] in ("bool", "num"):
        return "false"  # a typed read: every filled cell is one
    number = "false" if layout.kinds[i] == "text" else f"v{i} IS NOT NULL"
    return f"(s{i} IS NOT NULL AND NOT {number} AND lower(s{i}) NOT IN {BOOLEAN_WORDS})"


def proven_distinct(layout: Layout, first: list[GroupSums]) -> bool:
    """The bitmap holds as many ids as rows with an id, and at most one row has none."""
    if not layout.bitmap or not first:
        return False
    rows = sum(g.rows for g in first)
    with_id = sum(g.ids for g in first)
    return first[0].id_bits == with_id and rows - with_id <= 1


def distinct_text_ids(
    con: duckdb.DuckDBPyConnection, csv_file: CsvFile, layout: Layout, first: list[GroupSums]
) -> bool:
    """Text user ids (``u123``, UUIDs) proven distinct by one scan of the id column: every row
    has an id that starts and ends with printable ASCII (so it is its own trimmed id), and the
    ids have as many distinct 64-bit hashes as there are rows. A shared hash, a blank id or one
    with white space around it proves nothing: the keyed path decides."""
    if layout.bitmap or layout.user_type != "VARCHAR" or not first:
        return False
    u = f"c{layout.user}"
    plain = f"ascii({u}) BETWEEN 33 AND 126 AND ascii(right({u}, 1)) BETWEEN 33 AND 126"
    sql = (  # a DISTINCT of bare hashes: the smallest hash table (an id not plain is NULL)
        f"SELECT count(h) AS ids FROM (SELECT DISTINCT CASE WHEN {plain} THEN hash({u}) END "
        f"AS h FROM {csv_file.read()})"
    )
    with bounded_memory(con):
        (row,) = fetch(con, sql)
    return row["ids"] == sum(g.rows for g in first)


def first_cells(
    con: duckdb.DuckDBPyConnection, csv_file: CsvFile, layout: Layout, i: int, condition: str
) -> list[tuple[int, str]]:
    """The first three (line, trimmed cell of column i) where ``condition`` holds."""
    sql = (
        f"SELECT line, s{i} AS cell FROM {_rows(csv_file, layout, lines=True)} "
        f"WHERE {condition} LIMIT 3"
    )
    return [(row["line"], row["cell"]) for row in fetch(con, sql)]


def first_lines(
    con: duckdb.DuckDBPyConnection, csv_file: CsvFile, layout: Layout, condition: str
) -> list[int]:
    """The first three lines where ``condition`` holds (the scan stops there)."""
    sql = f"SELECT line FROM {_rows(csv_file, layout, lines=True)} WHERE {condition} LIMIT 3"
    return [row["line"] for row in fetch(con, sql)]


def first_line_per_group(
    con: duckdb.DuckDBPyConnection, csv_file: CsvFile, layout: Layout, blank: tuple[str, ...]
) -> dict[tuple[str, str], int]:
    """The first line of each raw (variant, segment) pair among the kept rows."""
    sql = (
        f"SELECT a, g, min(line) AS line FROM {_rows(csv_file, layout, lines=True)} "
        f"WHERE {kept(blank)} GROUP BY a, g"
    )
    return {(row["a"], row["g"]): row["line"] for row in fetch(con, sql)}


# --------------------------------------------------------------------------- keyed path


def per_user_table(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    *,
    binary: tuple[int, ...],
    numeric: tuple[int, ...],
    primary: int,
    arm_codes: dict[str, int],
    rule: RepeatedRule = "sum",
    order_by: int | None = None,
) -> UserCounts:
    """Table ``per_user``: one row per user id of the kept rows, and what it holds.

    ``arm_codes`` numbers every raw variant label by its normalised label (0: blank), so that a
    user seen under "Control" and "control " is in one arm, not two. A user's rows are combined
    by ``rule``: ``sum`` (a 0/1 column by max, a number by sum), or ``first``: the values of its
    first row by the date or timestamp column ``order_by`` (rows without one last), then by line.
    Whether a user is crossed (in several variants) is decided on all its rows either way.
    """
    execute(con, "CREATE OR REPLACE TEMP TABLE arm_codes (raw VARCHAR, code INTEGER)")
    con.executemany("INSERT INTO arm_codes VALUES (?, ?)", list(arm_codes.items()))
    values = [
        "min(m.code) AS a",
        "min(m.code) <> max(m.code) AS crossed",
        "min(line) AS first_line",
        "count(*) AS row_count",
    ]
    values.append("arg_min(g, line) AS g" if layout.segment is not None else "'' AS g")
    extra: tuple[str, ...] = ()
    if rule == "first":
        if order_by is not None:
            extra = (f"try_cast({trimmed(f'c{order_by}')} AS TIMESTAMP) AS ts",)
        key = "{'t': ts, 'l': line}" if order_by is not None else "line"
        values += [
            f"arg_min_null({_binary_value(layout, i, primary)}, {key}) AS b{i}" for i in binary
        ]
        values += [f"arg_min_null(v{i}, {key}) AS v{i}" for i in numeric]
    else:
        values += [f"max({_binary_value(layout, i, primary)}) AS b{i}" for i in binary]
        values += [f"sum(v{i}) AS v{i}" for i in numeric]
    rows = _rows(csv_file, layout, lines=True, keyed=True, extra=extra)
    execute(
        con,
        f"CREATE OR REPLACE TEMP TABLE per_user AS SELECT u, {', '.join(values)} FROM {rows} r "
        "JOIN arm_codes m ON m.raw = r.a WHERE m.code > 0 AND NOT r.pm GROUP BY u",
    )
    repeated = "row_count > 1 AND NOT crossed"
    (row,) = fetch(
        con,
        "SELECT count_if(crossed) AS crossed, count(*) AS users, "
        "min(first_line) FILTER (WHERE crossed) AS line, "
        f"count_if({repeated}) AS repeated, "
        f"coalesce(sum(row_count) FILTER (WHERE {repeated}), 0) AS repeated_rows, "
        f"min(first_line) FILTER (WHERE {repeated}) AS repeated_line FROM per_user",
    )
    return UserCounts(**row)


@dataclass(frozen=True, slots=True)
class UserCounts:
    """The ``per_user`` table's users: all, those in several variants and those of one
    variant on several rows, each with the first line of one."""

    users: int
    crossed: int
    line: int | None
    """The first line of a crossed user."""
    repeated: int
    repeated_rows: int
    repeated_line: int | None


def _binary_value(layout: Layout, i: int, primary: int) -> str:
    if layout.kinds[i] == "bool":
        value = f"b{i}::INTEGER"
    else:
        value = (
            f"CASE WHEN lower(s{i}) IN {TRUE_LIST} THEN 1 "
            f"WHEN lower(s{i}) IN {FALSE_LIST} THEN 0 END"
        )
    return value if i == primary else f"coalesce({value}, 0)"


@dataclass(frozen=True, slots=True)
class Relation:
    """Rows that are users: the CSV itself when ids are distinct, else the per_user table."""

    source: str
    where: str
    keys: tuple[str, ...]
    labels: tuple[str, ...] = ()
    """For the per_user table: the arm label of each arm code."""

    @staticmethod
    def raw(csv_file: CsvFile, layout: Layout, blank: tuple[str, ...]) -> Relation:
        keys = ("a",) if layout.segment is None else ("a", "g")
        return Relation(f"{_rows(csv_file, layout)} r", kept(blank), keys)

    @staticmethod
    def per_user(labels: tuple[str, ...]) -> Relation:
        return Relation("per_user", "NOT crossed", ("a", "g"), labels)

    def labelled(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows with the arm as a label (the per_user table holds arm codes)."""
        if not self.labels:
            return rows
        return [r | {"a": self.labels[r["a"]] if r["a"] is not None else None} for r in rows]


def per_arm(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    *,
    binary: tuple[int, ...],
    numeric: tuple[int, ...],
    pairs: dict[int, int],
    ratios: dict[int, tuple[int, int]],
) -> list[GroupSums]:
    """Users and the sums of each column, pair and ratio per arm (and segment) of ``relation``."""
    aggregates = ["min(first_line) AS first_line", "count(*) AS users"]
    aggregates += [f"sum(b{i}) AS t{i}" for i in binary]
    for i in numeric:
        aggregates += [*_numeric_aggregates(i), f"max(v{i}) AS mx{i}"]
    for i, pre in pairs.items():
        aggregates += _pair_aggregates(i, pre)
    for k, (x, y) in ratios.items():  # per_user holds a 0/1 column as b, a number as v
        value = {i: f"b{i}" if i in binary else f"v{i}" for i in (x, y)}
        aggregates += ratio_aggregates(k, f"{value[x]}::DOUBLE", f"{value[y]}::DOUBLE")
    keys = ", ".join(relation.keys)
    rows = fetch(
        con,
        f"SELECT {keys}, {', '.join(aggregates)} FROM {relation.source} "
        f"WHERE {relation.where} GROUP BY {keys}",
    )
    return [group_sums(row) for row in relation.labelled(rows)]


def capped_sums(
    con: duckdb.DuckDBPyConnection, relation: Relation, caps: dict[int, float]
) -> tuple[dict[int, float], list[GroupSums]]:
    """Medians, and per group Σ min(x, cap) and Σ min(x, cap)² (NULL stays NULL)."""
    aggregates = []
    for i in caps:
        capped = f"(CASE WHEN v{i} > $cap{i} THEN $cap{i} ELSE v{i} END)"
        aggregates += [
            f"median(v{i}) AS med{i}",
            f"sum({capped}) AS cs{i}",
            f"sum({capped} * {capped}) AS css{i}",
        ]
    keys = ", ".join(relation.keys)
    rows = fetch(
        con,
        f"SELECT {keys}, grouping({keys}) AS everything, {', '.join(aggregates)} "
        f"FROM {relation.source} WHERE {relation.where} GROUP BY GROUPING SETS (({keys}), ())",
        {f"cap{i}": cap for i, cap in caps.items()},
    )
    (total,) = [r for r in rows if r["everything"]]
    medians = {i: float(total[f"med{i}"]) for i in caps}
    groups = relation.labelled([r for r in rows if not r["everything"]])
    return medians, [group_sums(row) for row in groups]


Arm = tuple[str, ...] | tuple[int, ...]
Window = tuple[float, float]


def sampled_windows(
    con: duckdb.DuckDBPyConnection, relation: Relation, entries: list[tuple[int, Arm]]
) -> list[tuple[float, ...]]:
    """For each (column i, arm) a sample's quantiles at ``SAMPLED_FRACTIONS`` over the arm's
    users in ``relation`` (one scan, bounded memory); () for an arm without a value."""
    if not entries:
        return []
    select = ", ".join(
        sampled_quantiles(f"v{i}", k, f"a IN ({_members(arm)})")
        for k, (i, arm) in enumerate(entries)
    )
    with bounded_memory(con):
        (row,) = fetch(con, f"SELECT {select} FROM {relation.source} WHERE {relation.where}")
    return [tuple(row[f"rq{k}"] or ()) for k in range(len(entries))]


def _members(arm: Arm) -> str:
    return ", ".join(str(a) if isinstance(a, int) else literal(a) for a in arm)


def quantiles(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    requests: list[tuple[int, Arm, tuple[float, ...]]],
    windows: list[Window | None] | None = None,
) -> list[list[float | None]]:
    """For each request (column i, the raw labels or arm codes of one arm, fractions): column i's
    quantiles at each fraction over that arm's users, as numpy's default (linear) ``quantile``
    computes them. Fractions are clipped to [0, 1]; an arm with no value gives NULLs.

    Exact in bounded memory: one scan counts each arm's values of column i below, inside and
    above the request's window (``windows``, a value range that should hold its quantiles: from
    a sample, ``sampled_windows``) and keeps only the distinct values inside it with their
    counts. The ranks the fractions ask for are found among those counts; a rank that falls
    outside the window (the sample misled) is read by a second scan with no window: the counts
    of every distinct value, which DuckDB spills to disk when they outgrow its memory.
    """
    if not requests:
        return []
    asked = [tuple(min(max(float(f), 0.0), 1.0) for f in fractions) for _, _, fractions in requests]
    entries = list(dict.fromkeys((i, arm) for i, arm, _ in requests))
    spans: dict[tuple[int, Arm], list[Window]] = {entry: [] for entry in entries}
    for (i, arm, _), window in zip(requests, windows or [None] * len(requests), strict=True):
        spans[(i, arm)].append(window or (-math.inf, math.inf))
    found = _order_statistics(con, relation, spans, requests, asked)
    missed = {
        (i, arm) for (i, arm, _), values in zip(requests, found, strict=True) if values is None
    }
    if missed:
        full = {entry: [(-math.inf, math.inf)] for entry in entries if entry in missed}
        again = _order_statistics(con, relation, full, requests, asked)
        found = [a if f is None else f for f, a in zip(found, again, strict=True)]
    return [
        list(f) if f is not None else [None] * len(a) for f, a in zip(found, asked, strict=True)
    ]


def _order_statistics(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    spans: dict[tuple[int, Arm], list[Window]],
    requests: list[tuple[int, Arm, tuple[float, ...]]],
    asked: list[tuple[float, ...]],
) -> list[tuple[float | None, ...] | None]:
    """Per request its quantiles (a tuple of Nones when the arm has no value), or None when a
    rank it needs lies outside the windows of its entry (or the entry is not in ``spans``)."""
    entries = list(spans)
    unions = _unions(entries, spans)
    spans = {entry: list(windows) for entry, windows in spans.items()}
    for window, parts in unions.values():  # the parts keep the union's window too
        for j in parts:
            spans[entries[j]].append(window)
    merged = {entry: _disjoint(windows) for entry, windows in spans.items()}
    columns = list(dict.fromkeys(i for i, _ in entries))
    # A row is counted once per slot: per column, entries whose arms share no label (an entry
    # whose arms overlap another's takes a slot of its own, unless it is a union).
    slots: list[tuple[int, list[tuple[int, Arm]]]] = []
    for k, (i, arm) in enumerate(entries):
        if k in unions:
            continue
        free = next(
            (
                taken
                for j, taken in slots
                if j == i and not any(set(arm) & set(other) for _, other in taken)
            ),
            None,
        )
        if free is None:
            slots.append((i, [(k, arm)]))
        else:
            free.append((k, arm))
    keys, tags, kept = [], [], []
    for s, (i, taken) in enumerate(slots):  # the arm once per row, then integer keys
        x = f"x{i}"
        key = " ".join(f"WHEN a IN ({_members(arm)}) THEN {k}" for k, arm in taken)
        tag = " ".join(f"WHEN {k} THEN {_tag(x, merged[(i, arm)])}" for k, arm in taken)
        keys.append(f"CASE WHEN {x} IS NULL THEN NULL {key} END AS k{s}")
        tags.append(f"k{s}, CASE k{s} {tag} END AS t{s}, {x} AS y{s}")
        kept.append(f"k{s}, t{s}, CASE WHEN t{s} % 2 = 1 THEN y{s} END AS w{s}")
    values = ", ".join(f"v{i}::DOUBLE AS x{i}" for i in columns)
    sets = ", ".join(f"(k{s}, t{s}, w{s})" for s in range(len(slots)))
    rows = (
        f"SELECT {', '.join(kept)} FROM (SELECT {', '.join(tags)} FROM "
        f"(SELECT {', '.join([*keys, *(f'x{i}' for i in columns)])} FROM "
        f"(SELECT a, {values} FROM {relation.source} WHERE {relation.where})))"
    )

    def first(prefix: str) -> str:
        return f"coalesce({', '.join(f'{prefix}{s}' for s in range(len(slots)))})"

    wanted = ", ".join(
        f"({entries.index((i, arm))}, {f!r})"
        for (i, arm, _), fractions in zip(requests, asked, strict=True)
        if (i, arm) in spans
        for f in fractions
    )
    derived = "".join(
        f" UNION ALL {_union_counts(k, window, parts, merged, entries)}"
        for k, (window, parts) in unions.items()
    )
    sql = f"""
        WITH grouped AS MATERIALIZED (
          SELECT {first("k")} AS k, {first("t")} AS t, {first("w")} AS w, count(*) AS c
          FROM ({rows}) GROUP BY GROUPING SETS ({sets})),
        counted AS (
          SELECT k, t, w, c, sum(c) OVER (PARTITION BY k ORDER BY t, w
                                          ROWS UNBOUNDED PRECEDING) - c AS start,
                 sum(c) OVER (PARTITION BY k) AS n
          FROM (SELECT k, t, w, c FROM grouped WHERE k IS NOT NULL{derived})),
        wanted(k, f) AS (VALUES {wanted}),
        ranks AS (  -- around the ranks numpy reads, (n − 1)·f and the next, with a margin
          SELECT wanted.k, floor((n - 1) * f) - 1 AS low, floor((n - 1) * f) + 2 AS high
          FROM wanted JOIN (SELECT k, any_value(n) AS n FROM counted GROUP BY k) sizes
            ON sizes.k = wanted.k)
        SELECT DISTINCT counted.* FROM counted JOIN ranks ON counted.k = ranks.k
          AND start <= high AND start + c > low
    """
    with bounded_memory(con):
        rows = fetch(con, sql)
    by_entry: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_entry.setdefault(row["k"], []).append(row)
    out: list[tuple[float | None, ...] | None] = []
    for (i, arm, _), fractions in zip(requests, asked, strict=True):
        if (i, arm) not in spans:
            out.append(None)
            continue
        counts = by_entry.get(entries.index((i, arm)), [])
        if not counts:
            out.append(tuple(None for _ in fractions))
            continue
        picked = [_linear(counts, f) for f in fractions]
        out.append(None if any(p is None for p in picked) else tuple(picked))
    return out


def _unions(
    entries: list[tuple[int, Arm]], spans: dict[tuple[int, Arm], list[Window]]
) -> dict[int, tuple[Window, list[int]]]:
    """Entries whose arms are exactly the arms of other entries of their column (every arm
    together, for the outlier cap) and that ask one finite window: entry → (window, parts).
    Their counts are added up from the parts' (which keep that window too), not scanned."""
    out: dict[int, tuple[Window, list[int]]] = {}
    for k, (i, arm) in enumerate(entries):
        windows = spans[(i, arm)]
        if len(windows) != 1 or not all(map(math.isfinite, windows[0])):
            continue
        parts = [
            j
            for j, (other_i, other) in enumerate(entries)
            if other_i == i and j != k and set(other) < set(arm)
        ]
        labels = [a for j in parts for a in entries[j][1]]
        if parts and len(labels) == len(set(labels)) and set(labels) == set(arm):
            out[k] = (windows[0], parts)
    nested = {j for _, parts in out.values() for j in parts}
    return {k: found for k, found in out.items() if k not in nested}


def _union_counts(
    k: int,
    window: Window,
    parts: list[int],
    merged: dict[tuple[int, Arm], list[Window]],
    entries: list[tuple[int, Arm]],
) -> str:
    """Entry k's counts from its parts' (``grouped`` rows): below its window, each value inside
    it, above it. A part's stretch outside its windows (``w`` NULL) is below when its tag is
    below the tag of the part's window that holds entry k's."""
    low, high = map(_bound, window)
    holds = []
    for j in parts:
        windows = merged[entries[j]]
        stretch = next(
            2 * n + 1 for n, (lo, hi) in enumerate(windows) if lo <= window[0] and window[1] <= hi
        )
        holds.append(f"WHEN {j} THEN t < {stretch}")
    inside = f"w BETWEEN {low} AND {high}"
    return (
        f"SELECT {k} AS k, CASE WHEN {inside} THEN 1 WHEN w < {low} OR (w IS NULL AND "
        f"CASE k {' '.join(holds)} END) THEN 0 ELSE 2 END AS t, CASE WHEN {inside} THEN w END "
        f"AS w, sum(c) AS c FROM grouped WHERE k IN ({', '.join(map(str, parts))}) GROUP BY ALL"
    )


def _disjoint(windows: list[Window]) -> list[Window]:
    """The union of ``windows`` as disjoint ranges in ascending order."""
    out: list[Window] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _bound(x: float) -> str:
    return f"'{x}'::DOUBLE" if math.isinf(x) else repr(float(x))


def _tag(x: str, windows: list[Window]) -> str:
    """Which stretch of the line ``x`` is in: 0 below the first window, 1 inside it, 2 between it
    and the next, …, 2·len(windows) above the last (the tags order the stretches)."""
    parts = []
    for j, (lo, hi) in enumerate(windows):
        parts += [
            f"WHEN {x} < {_bound(lo)} THEN {2 * j}",
            f"WHEN {x} <= {_bound(hi)} THEN {2 * j + 1}",
        ]
    return f"CASE {' '.join(parts)} ELSE {2 * len(windows)} END"


def _linear(counts: list[dict[str, Any]], fraction: float) -> float | None:
    """numpy's linear quantile at ``fraction`` from the counted stretches around its ranks
    (None when one of the two order statistics it needs is not a value inside a window)."""
    n = counts[0]["n"]
    virtual = (n - 1) * fraction
    below = math.floor(virtual)
    ranks = (below, min(below + 1, n - 1))
    values = []
    for rank in ranks:
        row = next((r for r in counts if r["start"] <= rank < r["start"] + r["c"]), None)
        if row is None or row["t"] % 2 == 0:
            return None
        values.append(row["w"])
    a, b = values
    t = virtual - below
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


# --------------------------------------------------------------------------- SRM breakdown


def dimension_counts(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    columns: tuple[int, ...],
    blank: tuple[str, ...],
    *,
    labels: tuple[str, ...] = (),
    proportion: bool = True,
) -> list[dict[str, Any]]:
    """Users per raw variant label × trimmed value of each column in ``columns``: one scan, one
    grouping set per column. A row has ``a``, ``users`` and ``d{i}`` filled for its column only
    (a blank cell is ''). With ``labels`` (the keyed path) users are the ``per_user`` table's rows
    that are in one variant, ``a`` their arm label, and a user with several rows counted once per
    value."""
    if not columns:
        return []
    values = [f"coalesce({trimmed(f'c{i}')}, '') AS d{i}" for i in columns]
    sets = ", ".join(f"(a, d{i})" for i in columns)
    dims = ", ".join(f"d{i}" for i in columns)
    if not labels:
        source = (
            f"(SELECT coalesce(c{layout.variant}, '') AS a, {_primary_missing(layout)} AS pm, "
            f"{', '.join(values)} FROM {csv_file.read()})"
        )
        sql = (
            f"SELECT a, {dims}, count(*) AS users FROM {source} WHERE {kept(blank)} "
            f"GROUP BY GROUPING SETS ({sets})"
        )
        return fetch(con, sql)
    source = (
        f"(SELECT coalesce({trimmed(f'c{layout.user}')}, '') AS u, "
        f"{_primary_missing(layout)} AS pm, {', '.join(values)} FROM {csv_file.read()})"
    )
    sql = (
        f"SELECT p.a AS a, {dims}, count(DISTINCT p.u) AS users FROM {source} r "
        f"JOIN per_user p ON p.u = r.u WHERE NOT p.crossed AND NOT r.pm "
        f"GROUP BY GROUPING SETS ({sets})"
    )
    rows = fetch(con, sql)
    return [r | {"a": labels[r["a"]]} for r in rows]


# --------------------------------------------------------------------------- users by first day

_DATE_NAME = re.compile(
    r"^(date|day|dt|ts|time|timestamp|datetime)$|(^|_)(date|day|ts|time|timestamp)$|_at$"
    r"|^(first_)?(exposure|exposed|assignment|assigned|seen|event)(_(date|time|ts|at))?$"
)


def date_column(layout: Layout, head: Head) -> int | None:
    """The first text column named like a date or timestamp (``date``, ``exposure_time``,
    ``assigned_at``, …) whose sampled cells are ISO dates or timestamps; None when none is."""
    rows = [r for r in head.rows if len(r) == len(layout.names)]
    roles = {layout.user, layout.variant, layout.segment}
    for i, name in enumerate(layout.names):
        if i in roles or layout.kinds[i] not in ("text", "any") or not _DATE_NAME.search(name):
            continue
        cells = [r[i].strip() for r in rows if r[i].strip()]
        if cells and all(_is_iso_date(c) for c in cells):
            return i
    return None


def _is_iso_date(cell: str) -> bool:
    try:
        datetime.fromisoformat(cell.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def first_day_counts(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    column: int,
    blank: tuple[str, ...],
    *,
    labels: tuple[str, ...] = (),
    proportion: bool = True,
) -> list[dict[str, Any]]:
    """Users per raw variant label (``a``) and ``day`` (ISO date text) of their first row by the
    date or timestamp ``column``; users whose cells do not read as a date have ``day`` NULL. With
    ``labels`` (the keyed path) users are the ``per_user`` table's rows in one variant, ``a``
    their arm label. ``converted`` counts the users among them whose primary (0/1) is 1 (0 when
    the primary is not ``proportion``)."""
    day = f"CAST(try_cast({trimmed(f'c{column}')} AS TIMESTAMP) AS DATE)"
    if not labels:
        source = (
            f"(SELECT coalesce(c{layout.variant}, '') AS a, {_primary_missing(layout)} AS pm, "
            f"{day} AS d, {_primary_one(layout) if proportion else '0'} AS y "
            f"FROM {csv_file.read()})"
        )
        sql = (
            f"SELECT a, CAST(d AS VARCHAR) AS day, count(*) AS users, "
            f"coalesce(sum(y), 0) AS converted FROM {source} WHERE {kept(blank)} GROUP BY a, d"
        )
        return fetch(con, sql)
    primary = layout.index(layout.primary)
    source = (
        f"(SELECT coalesce({trimmed(f'c{layout.user}')}, '') AS u, "
        f"{_primary_missing(layout)} AS pm, {day} AS d FROM {csv_file.read()})"
    )
    firsts = (
        f"(SELECT p.a AS a, min(r.d) AS d, "
        f"{f'coalesce(any_value(p.b{primary}), 0)' if proportion else '0'} AS y "
        f"FROM {source} r JOIN per_user p ON p.u = r.u "
        "WHERE NOT p.crossed AND NOT r.pm GROUP BY p.u, p.a)"
    )
    rows = fetch(
        con,
        f"SELECT a, CAST(d AS VARCHAR) AS day, count(*) AS users, "
        f"coalesce(sum(y), 0) AS converted FROM {firsts} GROUP BY a, d",
    )
    return [r | {"a": labels[r["a"]]} for r in rows]


def _primary_one(layout: Layout) -> str:
    """1 when a row's primary (a 0/1 column) is 1, else 0."""
    p = layout.index(layout.primary)
    if p is None:
        return "0"
    if layout.kinds[p] == "bool":
        return f"coalesce(c{p}::INTEGER, 0)"
    if layout.kinds[p] == "num":
        return f"CASE WHEN c{p} = 1 THEN 1 ELSE 0 END"
    cell = trimmed(f"c{p}")
    return (
        f"CASE WHEN lower({cell}) IN {TRUE_LIST} OR TRY_CAST({cell} AS DOUBLE) = 1 "
        "THEN 1 ELSE 0 END"
    )


def first_lines_by_value(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    column: int,
    blank: tuple[str, ...],
    condition: str,
) -> list[int]:
    """The first three lines among the kept rows where ``condition`` holds, a condition on ``a``
    (the raw variant label) and ``d`` (column's trimmed cell, '' when blank)."""
    source = (
        f"(SELECT row_number() OVER () + 1 AS line, coalesce(c{layout.variant}, '') AS a, "
        f"{_primary_missing(layout)} AS pm, coalesce({trimmed(f'c{column}')}, '') AS d "
        f"FROM {csv_file.read()})"
    )
    sql = f"SELECT line FROM {source} WHERE {kept(blank)} AND {condition} ORDER BY line LIMIT 3"
    return [row["line"] for row in fetch(con, sql)]
