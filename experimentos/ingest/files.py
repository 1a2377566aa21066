"""CSV files → ExperimentData. Every column and row check lives in the ingest modules.

Two layouts are read (SPEC §2.1), told apart by the header (``ingest_head`` reads only the first
megabyte):
- aggregated: one row per variant (or variant × segment) with ``users`` and ``conversions``,
  read whole by pandas (``ingest_aggregated``);
- user-level: one row per user (a user column is present), aggregated by DuckDB straight from the
  file into the same sufficient statistics (``ingest_userlevel``).
Problems in a readable file become findings (each naming its line and column), never exceptions;
only bytes that are not a CSV at all raise :class:`UnreadableFileError`.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from experimentos.errors import UnreadableFileError
from experimentos.ingest.columns import USER_ALIASES, find_column, normalise_header
from experimentos.ingest.sniff import HEAD_BYTES, Head, check_controls, read_head
from experimentos.model import (
    ArmInput,
    ExperimentData,
    Finding,
    Options,
    SourceInfo,
    Thresholds,
)

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
    head = read_head(data[:HEAD_BYTES], file_name=file_name, complete=len(data) <= HEAD_BYTES)
    columns = _columns(head, file_name)
    if not find_column(columns, USER_ALIASES, override=options.user_column):
        from experimentos.ingest.aggregated import parse_aggregated  # pandas: only here

        return parse_aggregated(data, file_name=file_name, options=options, thresholds=thresholds)
    with tempfile.TemporaryDirectory(prefix="experimentos-") as temp:
        path = Path(temp) / "upload.csv"
        path.write_bytes(data)
        parsed = _user_level(
            path,
            head,
            columns,
            Path(temp),
            file_name=file_name,
            size=len(data),
            options=options,
            thresholds=thresholds,
        )
    return _with_checksum(parsed, hashlib.sha256(data).hexdigest)


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
    head = read_head(first, file_name=file_name, complete=size <= HEAD_BYTES)
    columns = _columns(head, file_name)
    if not find_column(columns, USER_ALIASES, override=options.user_column):
        check_size(size, file_name=file_name, limit=thresholds.max_file_bytes)
        return parse(path.read_bytes(), file_name=file_name, options=options, thresholds=thresholds)
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        tempfile.TemporaryDirectory(prefix="experimentos-") as temp,
    ):
        checksum = pool.submit(_sha256, path)
        parsed = _user_level(
            path,
            head,
            columns,
            Path(temp),
            file_name=file_name,
            size=size,
            options=options,
            thresholds=thresholds,
        )
        return _with_checksum(parsed, checksum.result)


def check_size(size: int, *, file_name: str, limit: int) -> None:
    """Files read into memory (all of an upload; an aggregated file) have a size limit."""
    if size > limit:
        raise UnreadableFileError(
            f"{file_name} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB. "
            "Export an aggregated file (one row per variant) instead."
        )


def _columns(head: Head, file_name: str) -> tuple[str, ...]:
    if not head.header:
        raise UnreadableFileError(f"{file_name} is empty: there is no header row.")
    return tuple(normalise_header(c) for c in head.header)


def _user_level(
    path: Path,
    head: Head,
    columns: tuple[str, ...],
    temp: Path,
    *,
    file_name: str,
    size: int,
    options: Options,
    thresholds: Thresholds,
) -> ExperimentData:
    from experimentos.ingest.duckdb_csv import MalformedCsv, NotUtf8
    from experimentos.ingest.userlevel import aggregate_user_level

    source = SourceInfo(file_name, "", rows=0, input_format="user_level", size_bytes=size)
    if findings := header_findings(list(head.header)):
        return blocked_data(source, findings, control=options.control)
    if head.encoding == "cp1252":
        path = _to_utf8(path, temp, file_name=file_name)
    try:
        return aggregate_user_level(
            path,
            head=head,
            columns=columns,
            temp_dir=temp,
            source=source,
            options=options,
            thresholds=thresholds,
        )
    except NotUtf8:
        if head.encoding == "cp1252":
            raise UnreadableFileError(f"{file_name} is not a text file.") from None
        # Not UTF-8 after all: the whole file is Windows-1252, as pandas would have decoded it.
        utf8 = _to_utf8(path, temp, file_name=file_name)
        with utf8.open("rb") as file:
            complete = utf8.stat().st_size <= HEAD_BYTES
            head = read_head(file.read(HEAD_BYTES), file_name=file_name, complete=complete)
        head = replace(head, encoding="cp1252")
        columns = _columns(head, file_name)
        return _user_level(
            utf8,
            head,
            columns,
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
        return blocked_data(source, [finding], control=options.control)


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _with_checksum(data: ExperimentData, checksum: Callable[[], str]) -> ExperimentData:
    return replace(data, source=replace(data.source, checksum=checksum()))


def header_findings(raw_columns: list[str]) -> list[Finding]:
    seen: dict[str, int] = {}
    findings = []
    for position, raw in enumerate(raw_columns, start=1):
        name = normalise_header(str(raw))
        if re.fullmatch(r"unnamed: \d+", name) or not name:
            findings.append(
                Finding("blocked", "empty_header", f"Column {position} has no name.", row=1)
            )
        elif name in seen:
            findings.append(
                Finding(
                    "blocked",
                    "duplicate_column",
                    f"Column {name!r} appears twice (columns {seen[name]} and {position}).",
                    row=1,
                    column=name,
                )
            )
        else:
            seen[name] = position
    return findings


def row_finding(code: str, message: str, line: int, column: str | None) -> Finding:
    """A blocking problem with one cell of an aggregated file, its line named first."""
    return Finding("blocked", code, f"Line {line}: {message}", row=line, column=column)


def blocked_data(
    source: SourceInfo, findings: list[Finding], *, control: str | None
) -> ExperimentData:
    return ExperimentData(
        source=source,
        control=control,
        arms=(),
        guardrail_columns=(),
        secondary_count_columns=(),
        mean_columns=(),
        findings=tuple(findings),
    )


def assemble_arms(
    rows: list[tuple[str, str, ArmInput]],
    *,
    source: SourceInfo,
    options: Options,
    findings: list[Finding],
    guardrails: tuple[str, ...],
    secondary: tuple[str, ...],
    means: tuple[str, ...],
    primary_name: str,
    ratios: tuple[str, ...] = (),
) -> ExperimentData:
    """Pool rows per arm (over segments) in the order arms first appear in the file."""
    pooled: dict[str, ArmInput] = {}
    by_segment: dict[str, list[ArmInput]] = {}
    for label, segment, arm in rows:
        pooled[label] = _add(pooled[label], arm) if label in pooled else arm
        if segment:
            by_segment.setdefault(segment, []).append(arm)
    control = options.control or "control"
    return ExperimentData(
        source=source,
        control=control,
        arms=tuple(pooled.values()),
        guardrail_columns=guardrails,
        secondary_count_columns=secondary,
        mean_columns=means,
        findings=tuple(findings),
        segments=tuple((name, tuple(arms)) for name, arms in by_segment.items()),
        primary_name=primary_name,
        ratio_columns=ratios,
    )


def _add(a: ArmInput, b: ArmInput) -> ArmInput:
    counts = {k: a.counts.get(k, 0) + b.counts.get(k, 0) for k in {*a.counts, *b.counts}}
    means = {k: a.means[k] + b.means[k] for k in a.means.keys() & b.means.keys()}
    covariates = {
        k: a.covariates[k] + b.covariates[k] for k in a.covariates.keys() & b.covariates.keys()
    }
    ratios = {k: a.ratios[k] + b.ratios[k] for k in a.ratios.keys() & b.ratios.keys()}
    return ArmInput(
        a.arm, a.users + b.users, a.conversions + b.conversions, counts, means, covariates, ratios
    )
