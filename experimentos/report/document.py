"""The memo as a document: sections of headings, paragraphs, lists and tables of literal text.

:func:`experimentos.report.memo.memo_document` builds one :class:`Document` from the result tree;
the Markdown and HTML writers (:mod:`experimentos.report.markup`) and the PDF writer
(:mod:`experimentos.report.pdf`) are functions of that document alone, so every format says the
same words in the same order. Text is *literal*: a CSV label ``<b>`` is the four characters
``<b>``, never a tag; each writer escapes for its own markup as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of literal text in one style."""

    text: str
    bold: bool = False
    italic: bool = False


Inline = tuple[Run, ...]
"""A line of text as runs, in order."""


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph of runs."""

    runs: Inline


@dataclass(frozen=True, slots=True)
class Highlight:
    """The paragraph a reader must not miss (the verdict); ``tone`` is "launch", "hold" or
    "rollback", for formats that colour it."""

    runs: Inline
    tone: str


@dataclass(frozen=True, slots=True)
class ItemList:
    """A bulleted list, or a numbered one (1., 2., …) when ``numbered``; never empty."""

    items: tuple[Inline, ...]
    numbered: bool = False

    def bullets(self) -> Iterator[tuple[str, Inline]]:
        """(bullet, item) pairs: ``•`` or ``1.``, ``2.``, …"""
        for number, item in enumerate(self.items, 1):
            yield (f"{number}." if self.numbered else "•"), item


@dataclass(frozen=True, slots=True)
class Table:
    """A table of literal cells under a header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Paragraph | Highlight | ItemList | Table


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of the document: its blocks, then its subsections (one level deeper).

    ``key`` names the section for writers that place something beside it (the PDF draws the
    forest plot under ``"evidence"``); it is never shown.
    """

    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()
    key: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    """A titled document of sections.

    ``subject`` is a one-line summary for a file's metadata; ``footer`` the line a paged format
    prints at the foot of every page.
    """

    title: str
    sections: tuple[Section, ...]
    subject: str = ""
    footer: str = ""


def walk(document: Document) -> Iterator[tuple[int, Section | Block]]:
    """Every section (with its heading level, 2 for the top ones) and block, in reading order;
    a block comes with the level of the section it is in."""

    def visit(section: Section, level: int) -> Iterator[tuple[int, Section | Block]]:
        yield level, section
        for block in section.blocks:
            yield level, block
        for subsection in section.subsections:
            yield from visit(subsection, level + 1)

    for section in document.sections:
        yield from visit(section, 2)


def plain(value: str) -> Run:
    """A run of unstyled text."""
    return Run(value)


def bold(value: str) -> Run:
    """A run of bold text."""
    return Run(value, bold=True)


def italic(value: str) -> Run:
    """A run of italic text."""
    return Run(value, italic=True)


def run_text(runs: Inline) -> str:
    """The runs' literal text, joined."""
    return "".join(run.text for run in runs)


def item_list(entries: Iterable[Inline], *, numbered: bool = False) -> tuple[ItemList, ...]:
    """The entries as a list: a one-block tuple, or no block when there are none."""
    found = tuple(entries)
    return (ItemList(found, numbered=numbered),) if found else ()


def text_list(values: Iterable[str], *, numbered: bool = False) -> tuple[ItemList, ...]:
    """Lines of plain text as a list (no block when there are none)."""
    return item_list(((plain(value),) for value in values), numbered=numbered)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    """A table of the given header and rows of literal cells."""
    return Table(tuple(header), tuple(tuple(row) for row in rows))
