"""Columns of a user-level file whose numbers are written for people (``"337,300.00"``,
``12,50``, ``15.2%``): found in the sampled head, read as text and converted in SQL, and every
conversion said once per column — which format, how many cells, one example, and the cells that
did not convert. A column whose separators could be read two ways is not tested, and said so."""

from __future__ import annotations

from dataclasses import replace

import duckdb

from experimentos.ingest import userlevel_queries as q
from experimentos.ingest.duckdb_csv import CsvFile
from experimentos.ingest.numbers import Ambiguous, NumberFormat, detect
from experimentos.ingest.sniff import Head
from experimentos.ingest.userlevel_queries import Layout
from experimentos.ingest.userlevel_sums import GroupSums, total
from experimentos.model import Finding

_FORMATTED = ("text", "num")


def with_number_formats(layout: Layout, head: Head) -> tuple[Layout, list[Finding]]:
    """The layout with each column of formatted numbers read as text and converted in SQL, and a
    warning for each column whose separators are ambiguous (that column is not tested)."""
    rows = [r for r in head.rows if len(r) == len(layout.names)]
    skipped = dict(layout.skipped)
    kinds = list(layout.kinds)
    formats = dict(layout.formats)
    findings: list[Finding] = []
    for i, name in enumerate(layout.names):
        if kinds[i] != "text" or name in skipped:
            continue
        found = detect([r[i] for r in rows], delimiter=head.delimiter)
        if isinstance(found, NumberFormat):
            kinds[i], formats[i] = "any", found
        elif isinstance(found, Ambiguous):
            line = head.blank_lines + 2 + found.index
            skipped[name] = "its separators can be read two ways"
            findings.append(_ambiguous(name, found.cell, line, head.delimiter))
    layout = replace(
        layout, kinds=tuple(kinds), formats=tuple(formats.items()), skipped=tuple(skipped.items())
    )
    return layout, findings


def _ambiguous(name: str, cell: str, line: int, delimiter: str) -> Finding:
    whole, fraction = cell.replace(".", "").split(",", 1)[0], cell.split(",", 1)[1]
    as_group = float(cell.replace(".", "").replace(",", ""))
    as_decimal = f"{whole}.{fraction}"
    return Finding(
        "warning",
        "ambiguous_number_format",
        f"{name}: {cell!r} (line {line}) could be {as_group:g} or {as_decimal} — the file "
        f"separates fields with {delimiter!r} and no cell of the column shows whether ',' is a "
        f"thousands separator or a decimal comma, so {name} is not tested. Write its numbers "
        "without thousands separators (1234.5).",
        row=line,
        column=name,
    )


def widened_to_format(layout: Layout, head: Head, column: int | None, value: str) -> Layout | None:
    """After a number column met ``value`` further in the file: the layout reading the column as
    formatted numbers when the sample and ``value`` fit one format, else None."""
    if column is None or layout.kinds[column] != "num":
        return None
    rows = [r for r in head.rows if len(r) == len(layout.names)]
    found = detect([*(r[column] for r in rows), value], delimiter=head.delimiter)
    if not isinstance(found, NumberFormat):
        return None
    kinds = (*layout.kinds[:column], "any", *layout.kinds[column + 1 :])
    return replace(layout, kinds=kinds, formats=(*layout.formats, (column, found)))


def number_findings(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    first: list[GroupSums],
    numeric: tuple[int, ...],
) -> list[Finding]:
    """Per converted column: an info finding (format, cells, example) when it is tested, and a
    warning naming the cells that are not numbers written that way (then it is not tested)."""
    findings = []
    everything = total(first)
    for i, fmt in layout.formats:
        name, sums = layout.names[i], everything.column(i)
        filled, numbers = sums.filled or 0, sums.numbers or 0
        if i in numeric:
            cell = next(iter(q.first_cells(con, csv_file, layout, i, _marked(i, fmt))), None)
            example = f" (e.g. {cell[1]!r} as {fmt.parse(cell[1]):g})" if cell else ""
            findings.append(
                Finding(
                    "info",
                    "formatted_numbers",
                    f"Read {numbers:,} cells of {name} as numbers written {fmt.describe()}"
                    f"{example}.",
                    row=cell[0] if cell else None,
                    column=name,
                )
            )
        elif numbers and filled > numbers:
            findings.append(_unconverted(con, csv_file, layout, i, fmt, filled - numbers))
    return findings


def _marked(i: int, fmt: NumberFormat) -> str:
    written = (fmt.group, "," if fmt.decimal == "," else "", "%" if fmt.percent else "")
    marks = [m for m in written if m]
    return "(" + " OR ".join(f"contains(s{i}, '{m}')" for m in marks) + f") AND v{i} IS NOT NULL"


def _unconverted(
    con: duckdb.DuckDBPyConnection,
    csv_file: CsvFile,
    layout: Layout,
    i: int,
    fmt: NumberFormat,
    failed: int,
) -> Finding:
    name = layout.names[i]
    cells = q.first_cells(con, csv_file, layout, i, f"s{i} IS NOT NULL AND v{i} IS NULL")
    shown = ", ".join(f"{cell!r} at line {line}" for line, cell in cells)
    return Finding(
        "warning",
        "unconverted_numbers",
        f"{failed:,} {'cell' if failed == 1 else 'cells'} of {name} "
        f"{'is' if failed == 1 else 'are'} not numbers written {fmt.describe()} ({shown}), so "
        f"{name} is not tested: correct those cells or write the column without separators.",
        row=cells[0][0] if cells else None,
        column=name,
    )
