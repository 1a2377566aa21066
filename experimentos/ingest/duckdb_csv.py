"""DuckDB over a CSV file: the ``read_csv`` call, a connection, and its errors made plain.

DuckDB reads the file in parallel and aggregates it columnar, so a user-level export of millions of
rows never becomes Python objects. Everything here is SQL text and error translation; what the
numbers mean lives in ``ingest.userlevel``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from experimentos.errors import UnreadableFileError
from experimentos.ingest.columns import FALSE_WORDS, TRUE_WORDS
from experimentos.ingest.sniff import Head

WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
"""What Python's ``str.strip()`` removes (pandas stripped cells with it)."""
MEMORY_LIMIT = os.environ.get("EXPERIMENTOS_DUCKDB_MEMORY", "1GB")
SPILL_MEMORY_LIMIT = os.environ.get("EXPERIMENTOS_DUCKDB_SPILL_MEMORY", "256MB")
"""DuckDB's memory limit for the queries whose state grows with the rows but spills to disk (a
DISTINCT of every id's hash, the counts of every distinct value): held this low, their peak
memory stays flat as files grow, and they run no slower (measured at 10M and 30M rows)."""


def literal(text: str) -> str:
    """A SQL string literal (DuckDB strings have no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"


def trimmed(expr: str) -> str:
    """``expr`` stripped of white space as Python strips it, and NULL when empty.

    A full Unicode trim costs microseconds a cell; cells that start and end with printable ASCII
    (nearly all) skip it.
    """
    return (
        f"nullif(CASE WHEN {expr} GLOB '[~!-}}]*' AND {expr} GLOB '*[~!-}}]' THEN {expr} "
        f"ELSE trim({expr}, {WS}) END, '')"
    )


def words(values: Sequence[str] | frozenset[str]) -> str:
    return "(" + ", ".join(literal(v) for v in sorted(values)) + ")"


BOOLEAN_WORDS = words(TRUE_WORDS | FALSE_WORDS)
TRUE_LIST = words(TRUE_WORDS)
FALSE_LIST = words(FALSE_WORDS)
WS = literal(WHITESPACE)


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A CSV file on disk as DuckDB should read it: dialect from the head, one type per column."""

    path: Path
    head: Head
    types: tuple[str, ...]

    def read(self, *, parallel: bool = True) -> str:
        columns = ", ".join(f"'c{i}': '{t}'" for i, t in enumerate(self.types))
        return (
            f"read_csv({literal(str(self.path))}, header = true, skip = {self.head.blank_lines}, "
            f"columns = {{{columns}}}, auto_detect = false, delim = {literal(self.head.delimiter)}, "
            "quote = '\"', escape = '\"', strict_mode = true, null_padding = false, "
            f"encoding = 'utf-8', parallel = {str(parallel).lower()})"
        )


class MalformedCsv(Exception):
    """DuckDB could not parse a line; ``line`` is the physical line number when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class ConversionFailed(Exception):
    """A cell did not fit the type guessed for its column (``column`` is its position)."""

    def __init__(self, column: int | None, value: str, line: int | None = None) -> None:
        super().__init__(f"column {column}: {value!r}")
        self.column = column
        self.value = value
        self.line = line


class BitmapMiss(Exception):
    """A user id fell outside the range of the bitmap that proves ids distinct."""


class NotUtf8(Exception):
    """A byte sequence further in the file is not UTF-8: read the file as Windows-1252."""


def connect(temp_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": max(1, os.cpu_count() or 1),
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(temp_dir),
            "preserve_insertion_order": True,
        },
    )
    con.execute("SET enable_progress_bar = false")
    return con


@contextmanager
def bounded_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Queries inside run with ``SPILL_MEMORY_LIMIT``: large hash tables spill to the temporary
    directory instead of growing with the file."""
    con.execute(f"SET memory_limit = {literal(SPILL_MEMORY_LIMIT)}")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = {literal(MEMORY_LIMIT)}")


def fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Run a query; rows as dicts. DuckDB's errors become the exceptions above."""
    try:
        cursor = con.execute(sql, params) if params is not None else con.execute(sql)
        rows = cursor.fetchall()
        names = [d[0] for d in cursor.description or ()]
    except duckdb.Error as error:
        raise _translate(error) from None
    return [dict(zip(names, row, strict=True)) for row in rows]


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        con.execute(sql)
    except duckdb.Error as error:
        raise _translate(error) from None


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COLUMN = re.compile(r'converting column "c(\d+)"')
_VALUE = re.compile(r'Could not convert string "(.{0,10000}?)" to \'', re.DOTALL)
_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _translate(error: duckdb.Error) -> Exception:
    text = str(error)  # it quotes the offending line: searched, never shown
    line_match = _LINE.search(text)
    line = int(line_match.group(1)) if line_match else None
    where = f"line {line}" if line else "a line"
    if isinstance(error, duckdb.OutOfMemoryException):
        return UnreadableFileError(
            "The file is too large to analyse in the memory available; export an aggregated "
            "file (one row per variant) instead."
        )
    if isinstance(error, duckdb.OutOfRangeException) and "min and max range" in text:
        return BitmapMiss()
    if isinstance(error, duckdb.ConversionException) and "Could not convert" in text:
        if not (value := _VALUE.search(text)):
            return MalformedCsv(f"{where} has a value longer than 10,000 characters", line)
        column = _COLUMN.search(text)
        return ConversionFailed(int(column.group(1)) if column else None, value.group(1), line)
    if "Invalid unicode" in text or "not utf-8" in text:
        return NotUtf8()
    if fields := _FIELDS.search(text):
        expected, found = fields.groups()
        return MalformedCsv(f"{where} has {found} fields but the header has {expected}", line)
    if "unterminated quote" in text:
        return MalformedCsv(f'{where} has a quote (") that is never closed', line)
    if "Maximum line size" in text or "full read" in text:
        return MalformedCsv(f"{where} is longer than 2 MB: this is not a CSV export", line)
    first = text.split("\n", 1)[0].strip()[:200]
    return MalformedCsv(f"{where} cannot be read ({first})", line)
