"""Numbers written for people: thousands separators, decimal commas and percent signs.

A column is read in one format, decided from its cells: ``'337,300.00'`` (a ``,`` thousands
separator, ``.`` decimals), ``'1.234,50'`` or ``'12,50'`` (a decimal comma), ``'15.2%'`` (a
percent, read as the fraction 0.152). A cell that settles the reading is one with both marks
(``1,234.50``), a mark followed by other than three digits (``12,50``, ``12.5``) or a mark used
twice (``1,234,567``). When no cell settles it — ``1,234`` alone could be 1234 or 1.234 — a
comma-separated file is read with thousands separators (a decimal comma cannot be written there
unquoted, and exports that use one separate fields with ``;``); any other file is ambiguous and
the column is not read: the caller says so, it never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from experimentos.ingest.duckdb_csv import literal

_PLAIN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
"""A number as pandas' parser reads it (no separators)."""
_COMMA_GROUPS = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
"""``1,234,567.89``: ``,`` groups, ``.`` decimals."""
_DOT_GROUPS = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")
"""``1.234.567,89``: ``.`` groups, ``,`` decimals."""
_PERCENT = re.compile(r"(.*?)\s*%")


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """How a column's numbers are written: the group mark ('' when none), the decimal mark, and
    whether each cell ends with a percent sign."""

    group: str
    decimal: str
    percent: bool = False

    def describe(self) -> str:
        """``'with "," thousands separators and "." decimals'`` and the like."""
        parts = []
        if self.group:
            parts.append(f'"{self.group}" thousands separators')
        if self.decimal == ",":
            parts.append('"," decimals')
        elif self.group:
            parts.append('"." decimals')
        text = " and ".join(parts)
        if self.percent:
            return "as percentages" + (f" with {text}" if text else "") + " (read as fractions)"
        return f"with {text}"

    def parse(self, cell: str) -> float | None:
        """The cell's value, or None when it is not a number written this way."""
        body = cell.strip()
        if self.percent:
            if not (match := _PERCENT.fullmatch(body)):
                return None
            body = match.group(1)
        if not _body(self).fullmatch(body):
            return None
        if self.group:
            body = body.replace(self.group, "")
        if self.decimal == ",":
            body = body.replace(",", ".")
        return float(body) / 100 if self.percent else float(body)

    def sql(self, cell: str) -> str:
        """A DuckDB expression: the (trimmed) ``cell`` as a DOUBLE, NULL when not written so."""
        body = f"regexp_extract({cell}, '^(.*?)\\s*%$', 1)" if self.percent else cell
        regex = literal(_body(self).pattern)
        number = body
        if self.group:
            number = f"replace({number}, {literal(self.group)}, '')"
        if self.decimal == ",":
            number = f"replace({number}, ',', '.')"
        value = f"TRY_CAST({number} AS DOUBLE)" + (" / 100" if self.percent else "")
        return f"CASE WHEN regexp_full_match({body}, {regex}) THEN {value} END"


def _body(fmt: NumberFormat) -> re.Pattern[str]:
    if fmt.decimal == ",":
        return _DOT_GROUPS
    return _COMMA_GROUPS if fmt.group else _PLAIN


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """No cell tells a thousands separator from a decimal mark: ``cell`` (the ``index``-th of
    the cells given) is one that could be read either way."""

    cell: str
    index: int


def detect(cells: Iterable[str], *, delimiter: str) -> NumberFormat | Ambiguous | None:
    """The format of a column's numbers; None when they are plain (or not numbers at all).

    Blank cells and cells that are numbers in no format (words) are passed over: they are the
    caller's to report. Every other cell must fit the one format.
    """
    filled = [(k, c.strip()) for k, c in enumerate(cells) if c.strip()]
    numeric = [(k, c) for k, c in filled if _looks_numeric(c)]
    if not numeric:
        return None
    percent = all(c.endswith("%") for _, c in numeric)
    if percent:
        numeric = [(k, c[:-1].rstrip()) for k, c in numeric]
    elif any(c.endswith("%") for _, c in numeric):
        return None  # some with a percent sign, some without: not one format
    if all(_PLAIN.fullmatch(c) for _, c in numeric):
        return NumberFormat("", ".", percent=True) if percent else None
    comma = all(_COMMA_GROUPS.fullmatch(c) for _, c in numeric)
    dot = all(_DOT_GROUPS.fullmatch(c) for _, c in numeric)
    if comma and not dot:
        return NumberFormat(",", ".", percent)
    if dot and not comma:
        return NumberFormat(".", ",", percent)
    if not comma:  # neither: the marks are mixed up (1,234,5 or 1.234.5)
        return None
    if delimiter == ",":
        return NumberFormat(",", ".", percent)
    k, cell = next((k, c) for k, c in numeric if "," in c)
    return Ambiguous(cell, k)


def _looks_numeric(cell: str) -> bool:
    body = cell[:-1].rstrip() if cell.endswith("%") else cell
    return bool(
        _PLAIN.fullmatch(body) or _COMMA_GROUPS.fullmatch(body) or _DOT_GROUPS.fullmatch(body)
    )
