"""The head of a CSV file, read once: is it text, its encoding and delimiter, the header, a sample
of rows and the kind of file; and the file's SHA-256.

Only the first megabyte is read in Python, so a 300 MB user-level export never becomes Python bytes
or strings: the layout is decided from the header, and DuckDB reads the rest (``ingest.userlevel``).
A whole aggregated file is small: its decoded text is kept on the head when the head is all of it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from experimentos.errors import UnreadableFileError
from experimentos.ingest.columns import USER_ALIASES, find_column, normalise_header

HEAD_BYTES = 1 << 20
"""How much of a file is read to decide its layout and guess its column types."""
SAMPLE_ROWS = 20_000
_HTML = re.compile(rb"^\s*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_CHECKED_BYTES = 65536
_WRAPPED = re.compile(r'"(?:[^"]|"")*"')

_CHUNK = 1 << 22

Encoding = Literal["utf-8", "cp1252"]
FileKind = Literal["aggregated", "user_level"]


@dataclass(frozen=True, slots=True)
class Head:
    delimiter: str
    header: tuple[str, ...]
    """The header's cells as written (not yet normalised)."""
    rows: tuple[tuple[str, ...], ...]
    """Up to SAMPLE_ROWS complete data rows from the head, cells as written."""
    encoding: Encoding
    blank_lines: int
    """Empty lines before the header."""
    complete: bool
    """The head is the whole file."""
    text: str | None = None
    """The whole file decoded, when the head is the whole file."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The header's cells normalised (trimmed, case-folded)."""
        return tuple(normalise_header(c) for c in self.header)

    def kind(self, *, user_column: str | None) -> FileKind:
        """User-level when a column holds user ids (named so, or by ``user_column``)."""
        found = find_column(self.columns, USER_ALIASES, override=user_column)
        return "user_level" if found else "aggregated"


def check_bytes(head: bytes, *, file_name: str, complete: bool) -> None:
    """Raise UnreadableFileError for what is not a text file at all: empty, HTML, binary."""
    if not head.strip():
        if complete:
            raise UnreadableFileError(f"{file_name} is empty.")
        raise UnreadableFileError(f"{file_name} has no header row in its first megabyte.")
    if _HTML.match(head[:512]):
        raise UnreadableFileError(
            f"{file_name} is an HTML page, not a CSV file (a login page is what a download "
            "without access returns)."
        )
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UnreadableFileError(
            f"{file_name} is an Excel workbook, not a CSV file: open it in Excel and save it as "
            "CSV (File → Save As → 'CSV UTF-8'), then try again."
        )
    if _looks_utf16(head[:_CHECKED_BYTES]):
        raise UnreadableFileError(
            f"{file_name} is UTF-16 text (what Excel's 'Unicode Text' saves), not UTF-8: "
            "save it as 'CSV UTF-8' and try again."
        )
    if b"\x00" in head[:_CHECKED_BYTES]:
        raise UnreadableFileError(f"{file_name} is a binary file, not a CSV text file.")


def _looks_utf16(head: bytes) -> bool:
    """A UTF-16 byte-order mark, or ASCII text with a NUL byte in every other position."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = head[:1024]
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 8:
        return False
    return (odd.count(0) == len(odd) and 0 not in even) or (
        even.count(0) == len(even) and 0 not in odd
    )


def decode(data: bytes, *, file_name: str, complete: bool = True) -> tuple[str, Encoding]:
    """UTF-8 (with or without BOM), else Windows-1252 unless it looks binary.

    For a head (``complete=False``) a character cut at the end is dropped, not an error.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as error:
        if not complete and error.start >= len(data) - 3 and error.end == len(data):
            return data[: error.start].decode("utf-8-sig"), "utf-8"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise UnreadableFileError(
            f"{file_name} is not text in UTF-8 or Windows-1252: save it as a UTF-8 CSV."
        ) from None
    check_controls(text, file_name=file_name)
    return text, "cp1252"


def check_controls(text: str, *, file_name: str) -> None:
    controls = sum(1 for ch in text[:_CHECKED_BYTES] if ord(ch) < 32 and ch not in "\r\n\t")
    if controls > 0.01 * min(len(text), _CHECKED_BYTES):
        raise UnreadableFileError(f"{file_name} is a binary file, not a CSV text file.")


def sniff_delimiter(text: str) -> str:
    sample = text[:8192]
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0] or sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_head(data: bytes, *, file_name: str, complete: bool) -> Head:
    """Check, decode and parse the first bytes of a file (all of it when ``complete``)."""
    check_bytes(data, file_name=file_name, complete=complete)
    text, encoding = decode(data, file_name=file_name, complete=complete)
    return parse_head(text, encoding=encoding, complete=complete, file_name=file_name)


def unwrap_quoted_lines(text: str) -> str | None:
    """``"variant,users,conversions"`` on every line (a whole row written as one quoted cell, as
    some spreadsheets and scripts export) → the rows inside; None when the text is not so.

    Only when every non-empty line is one quoted field holding a delimiter, and no quote inside
    is left unpaired: unwrapping cannot then change a cell."""
    lines = text.splitlines()
    filled = [line.strip() for line in lines if line.strip()]
    if not filled or not all(_WRAPPED.fullmatch(line) for line in filled):
        return None
    inner = [line[1:-1] for line in filled]
    if not any(d in inner[0] for d in ",;\t|"):
        return None
    return "\n".join(cell.replace('""', '"') for cell in inner) + "\n"


def parse_head(text: str, *, encoding: Encoding, complete: bool, file_name: str) -> Head:
    delimiter = sniff_delimiter(text)
    whole = text if complete else None
    blank_lines = 0
    for line in io.StringIO(text):
        if line.strip("\r\n"):
            break
        blank_lines += 1
    reader = csv.reader(
        io.StringIO(text), delimiter=delimiter, quotechar='"', skipinitialspace=True, strict=False
    )
    rows: list[tuple[str, ...]] = []
    header: tuple[str, ...] = ()
    try:
        for record in reader:
            if not record:
                continue
            if not header:
                header = tuple(record)
                continue
            rows.append(tuple(record))
            if len(rows) > SAMPLE_ROWS:
                break
    except csv.Error as error:  # a NUL byte or a huge field further on: DuckDB judges the rest
        if not header:
            raise UnreadableFileError(
                f"{file_name}'s header row cannot be read ({error}): a column name longer than "
                f"{csv.field_size_limit():,} characters or a stray quote is the usual cause."
            ) from None
        complete = False
    if not complete and rows:
        rows.pop()  # the last line may be cut short
    return Head(
        delimiter, header, tuple(rows[:SAMPLE_ROWS]), encoding, blank_lines, complete, whole
    )


def checksum(data: bytes) -> str:
    """SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def file_checksum(path: Path) -> str:
    """SHA-256 of a file on disk, hex, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
