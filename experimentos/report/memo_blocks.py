"""The memo's blocks (headings, paragraphs, list items, tables) and a reader of the HTML memo.

:func:`experimentos.report.memo.memo_blocks` builds the memo as these blocks and every format (Markdown,
HTML, PDF) writes them, so every format shows the same words and nothing else. Text is *literal*:
a CSV label ``<b>`` is the four characters ``<b>``, never a tag; each renderer escapes for its own
markup. :func:`parse_memo_html` reads a page of :func:`experimentos.report.memo.render_html` back into
the same blocks (the tests compare the two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

Run = tuple[str, str]
"""(style, literal text); style is "", "b", "i" or "bi"."""
Runs = tuple[Run, ...]

_SKIPPED = frozenset({"head", "title", "style", "script"})
_HEADINGS = {"h1": "h1", "h2": "h2", "h3": "h3", "h4": "h3", "h5": "h3", "h6": "h3"}


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the memo; ``rows`` holds one cell for non-table blocks."""

    kind: str
    """"h1", "h2", "h3", "p", "li" or "table"."""
    rows: tuple[tuple[Runs, ...], ...]
    header: bool = False
    """A table whose first row is a header."""
    bullet: str | None = None
    """"•" or "3." for list items."""

    @property
    def text(self) -> str:
        """The first cell's literal text."""
        return "".join(text for _, text in self.rows[0][0]).strip() if self.rows else ""


def parse_memo_html(html: str) -> list[Block]:
    """The blocks of a memo page made by :func:`experimentos.report.memo.render_html`, in order."""
    parser = _MemoParser()
    parser.feed(html)
    parser.close()
    return parser.blocks


class _MemoParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._skip = 0
        self._bold = self._italic = 0
        self._runs: list[Run] | None = None
        self._kind = "p"
        self._bullet: str | None = None
        self._lists: list[list[str | int]] = []
        self._table: list[tuple[Runs, ...]] | None = None
        self._row: list[Runs] = []
        self._header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif self._skip:
            return
        elif tag in _HEADINGS:
            self._open(_HEADINGS[tag])
        elif tag == "p" and self._kind != "li":
            self._open("p")
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append([tag, 0])
        elif tag == "li":
            self._open_item()
        elif tag == "table":
            self._flush()
            self._table, self._header = [], False
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._header = self._header or (tag == "th" and not self._table)
            self._runs = []
        elif tag in ("strong", "b"):
            self._bold += 1
        elif tag in ("em", "i"):
            self._italic += 1
        elif tag == "br":
            self.handle_data(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(self._skip - 1, 0)
        elif self._skip:
            return
        elif tag in _HEADINGS or (tag == "p" and self._kind != "li") or tag == "li":
            self._flush()
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag in ("th", "td") and self._runs is not None:
            self._row.append(_trimmed(self._runs))
            self._runs = None
        elif tag == "tr" and self._table is not None:
            self._table.append(tuple(self._row))
        elif tag == "table" and self._table is not None:
            if self._table:
                self.blocks.append(Block("table", tuple(self._table), header=self._header))
            self._table = None
        elif tag in ("strong", "b"):
            self._bold = max(self._bold - 1, 0)
        elif tag in ("em", "i"):
            self._italic = max(self._italic - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._runs is None:
            if not data.strip() or self._table is not None:
                return
            self._open("p")
        style = ("b" if self._bold else "") + ("i" if self._italic else "")
        assert self._runs is not None
        self._runs.append((style, re.sub(r"\s+", " ", data)))

    def _open(self, kind: str, bullet: str | None = None) -> None:
        self._flush()
        self._runs, self._kind, self._bullet = [], kind, bullet

    def _open_item(self) -> None:
        if not self._lists:
            self._lists.append(["ul", 0])
        current = self._lists[-1]
        current[1] = int(current[1]) + 1
        self._open("li", "•" if current[0] == "ul" else f"{current[1]}.")

    def _flush(self) -> None:
        if self._runs is not None and self._table is None:
            runs = _trimmed(self._runs)
            if runs:
                self.blocks.append(Block(self._kind, ((runs,),), bullet=self._bullet))
            self._runs, self._kind, self._bullet = None, "p", None


def _trimmed(runs: list[Run]) -> Runs:
    """Runs with the block's outer whitespace removed and empty runs dropped."""
    items = [list(run) for run in runs]
    if items:
        items[0][1] = items[0][1].lstrip()
        items[-1][1] = items[-1][1].rstrip()
    return tuple((style, text) for style, text in items if text)
