"""CSV files → ExperimentData: the entry point of the ingest package.

Two layouts are read (SPEC §2.1), told apart by the header (``sniff`` reads only the first
megabyte, once):
- aggregated: one row per variant (or variant × segment) with ``users`` and ``conversions``,
  read whole by pandas (``ingest.aggregated``);
- user-level: one row per user (a user column is present), aggregated by DuckDB straight from the
  file into the same sufficient statistics (``ingest.userlevel``).
Each reader returns a ``StatsTable``; ``ingest.arms`` maps it to ExperimentData. Each file's size is
checked, its head decoded and sniffed, and its checksum computed once. Problems in a readable file
become findings (each naming its line and column), never exceptions; only bytes that are not a CSV
at all raise :class:`UnreadableFileError`.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from experimentos.errors import UnreadableFileError
from experimentos.ingest.arms import experiment_data, header_findings
from experimentos.ingest.columns import USER_LEVEL_PRIMARY
from experimentos.ingest.sniff import (
    HEAD_BYTES,
    Head,
    check_controls,
    checksum,
    file_checksum,
    read_head,
    unwrap_quoted_lines,
)
from experimentos.ingest.stats_table import StatsTable, refused
from experimentos.model import ExperimentData, Finding, Options, SourceInfo, Thresholds

_CHUNK = 1 << 22


def parse(
    data: bytes,
    *,
    file_name: str,
    options: Options = Options(),
    thresholds: Thresholds = Thresholds(),
) -> ExperimentData:
    """Read a results file in either layout. Raises UnreadableFileError only for non-CSV bytes."""
    check_size(len(data), file_name=file_name, limit=thresholds.max_file_bytes)
    head = _head(data[:HEAD_BYTES], file_name=file_name, complete=len(data) <= HEAD_BYTES)
    if (inner := _unwrapped(head, file_name=file_name)) is not None:
        data = parse(inner, file_name=file_name, options=options, thresholds=thresholds)
        return _with_checksum(_said_unwrapped(data), checksum(inner))
    if head.kind(user_column=options.user_column) == "aggregated":
        table = _aggregated(data, head, file_name=file_name, options=options)
    else:
        with tempfile.TemporaryDirectory(prefix="experimentos-") as temp:
            path = Path(temp) / "upload.csv"
            path.write_bytes(data)
            table = _user_level(
                path,
                head,
                Path(temp),
                file_name=file_name,
                size=len(data),
                options=options,
                thresholds=thresholds,
            )
    return _with_checksum(experiment_data(table, options=options), checksum(data))


def parse_path(
    path: Path,
    *,
    file_name: str | None = None,
    options: Options = Options(),
    thresholds: Thresholds = Thresholds(),
) -> ExperimentData:
    """Read a results file from disk. A user-level file is never loaded into memory: DuckDB reads
    it where it lies, while its SHA-256 is computed alongside. Raises OSError if it cannot be read.
    """
    file_name = file_name or path.name
    size = path.stat().st_size
    with path.open("rb") as file:
        first = file.read(HEAD_BYTES)
        head = _head(first, file_name=file_name, complete=size <= HEAD_BYTES)
        if (inner := _unwrapped(head, file_name=file_name)) is not None:
            unwrapped = parse(inner, file_name=file_name, options=options, thresholds=thresholds)
            return _with_checksum(_said_unwrapped(unwrapped), checksum(first))
        if head.kind(user_column=options.user_column) == "aggregated":
            check_size(size, file_name=file_name, limit=thresholds.max_file_bytes)
            data = first + file.read()
            table = _aggregated(data, head, file_name=file_name, options=options)
            return _with_checksum(experiment_data(table, options=options), checksum(data))
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        tempfile.TemporaryDirectory(prefix="experimentos-") as temp,
    ):
        digest = pool.submit(file_checksum, path)
        table = _user_level(
            path,
            head,
            Path(temp),
            file_name=file_name,
            size=size,
            options=options,
            thresholds=thresholds,
        )
        return _with_checksum(experiment_data(table, options=options), digest.result())


def check_size(size: int, *, file_name: str, limit: int) -> None:
    """Files read into memory (all of an upload; an aggregated file) have a size limit."""
    if size > limit:
        raise UnreadableFileError(
            f"{file_name} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB. "
            "Export an aggregated file (one row per variant) instead."
        )


def _head(data: bytes, *, file_name: str, complete: bool) -> Head:
    head = read_head(data, file_name=file_name, complete=complete)
    if not head.header:
        raise UnreadableFileError(f"{file_name} is empty: there is no header row.")
    return head


def _unwrapped(head: Head, *, file_name: str) -> bytes | None:
    """The rows inside quotes when every line of the file is wrapped in them (None otherwise);
    a file too large to hold is refused with what to fix."""
    if len(head.header) != 1 or not any(d in head.header[0] for d in ",;\t|"):
        return None
    if head.text is None:
        raise UnreadableFileError(
            f'{file_name} has every line wrapped in quotes ("{head.header[0][:40]}"): remove '
            "the quote at the start and end of each line and save it again."
        )
    inner = unwrap_quoted_lines(head.text)
    return inner.encode("utf-8") if inner is not None else None


def _said_unwrapped(data: ExperimentData) -> ExperimentData:
    finding = Finding(
        "info",
        "quoted_lines",
        "Every line of the file was wrapped in quotes (a whole row as one cell): the rows inside "
        "the quotes were read.",
        row=1,
    )
    return replace(data, findings=(finding, *data.findings))


def _aggregated(data: bytes, head: Head, *, file_name: str, options: Options) -> StatsTable:
    from experimentos.ingest.aggregated import read_aggregated  # pandas: only here

    return read_aggregated(data, head, file_name=file_name, options=options)


def _user_level(
    path: Path,
    head: Head,
    temp: Path,
    *,
    file_name: str,
    size: int,
    options: Options,
    thresholds: Thresholds,
) -> StatsTable:
    from experimentos.ingest.duckdb_csv import MalformedCsv, NotUtf8  # duckdb: only here
    from experimentos.ingest.userlevel import read_user_level

    source = SourceInfo(file_name, "", rows=0, input_format="user_level", size_bytes=size)
    primary = options.primary or USER_LEVEL_PRIMARY
    if findings := header_findings(list(head.header)):
        return refused(source, findings, primary=primary)
    if head.encoding == "cp1252":
        path = _to_utf8(path, temp, file_name=file_name)
    try:
        return read_user_level(
            path, head=head, temp_dir=temp, source=source, options=options, thresholds=thresholds
        )
    except NotUtf8:
        if head.encoding == "cp1252":
            raise UnreadableFileError(f"{file_name} is not a text file.") from None
        # Not UTF-8 after all: the whole file is Windows-1252, as pandas would have decoded it.
        utf8 = _to_utf8(path, temp, file_name=file_name)
        with utf8.open("rb") as file:
            complete = utf8.stat().st_size <= HEAD_BYTES
            head = _head(file.read(HEAD_BYTES), file_name=file_name, complete=complete)
        head = replace(head, encoding="cp1252")
        return _user_level(
            utf8,
            head,
            temp,
            file_name=file_name,
            size=size,
            options=options,
            thresholds=thresholds,
        )
    except MalformedCsv as error:
        finding = Finding(
            "blocked", "malformed_csv", f"The CSV is malformed: {error.message}.", row=error.line
        )
        return refused(source, [finding], primary=primary)


def _to_utf8(path: Path, temp: Path, *, file_name: str) -> Path:
    """A UTF-8 copy of a Windows-1252 file, in chunks (one byte is one character)."""
    target = temp / "utf8.csv"
    if path == target:
        return path
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        first = True
        while chunk := source.read(_CHUNK):
            try:
                text = chunk.decode("cp1252")
            except UnicodeDecodeError:
                raise UnreadableFileError(
                    f"{file_name} is not text in UTF-8 or Windows-1252: save it as a UTF-8 CSV."
                ) from None
            if first:
                check_controls(text, file_name=file_name)
                first = False
            out.write(text)
    return target


def _with_checksum(data: ExperimentData, digest: str) -> ExperimentData:
    return replace(data, source=replace(data.source, checksum=digest))
