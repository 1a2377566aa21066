"""Aggregated files (one row per variant, or variant × segment) → ExperimentData, with pandas.

These files are small (a row per arm), so pandas reads them whole, every cell as a stripped string.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experimentos.errors import UnreadableFileError
from experimentos.ingest import files as ingest
from experimentos.ingest.columns import (
    COVARIATE_SUFFIXES,
    MEAN_SUFFIXES,
    USER_ALIASES,
    VARIANT_ALIASES,
    find_column,
    mean_metric_names,
    normalise_header,
    ratio_columns,
    ratio_metric_names,
)
from experimentos.ingest.ratio_cells import row_ratios
from experimentos.ingest.sniff import check_bytes, decode, sniff_delimiter
from experimentos.model import (
    ArmInput,
    CovariateStats,
    ExperimentData,
    Finding,
    MeanStats,
    Options,
    SourceInfo,
    Thresholds,
)

_FIRST_LINE_OF_DATA = 2  # line 1 is the header
_MAX_COUNT = 2**53
"""Larger counts are not exact as floats (nor plausible): 1e308 users is a typo, not data."""


@dataclass(frozen=True, slots=True)
class _Table:
    frame: pd.DataFrame
    """All cells as stripped strings; columns normalised (trimmed, case-folded)."""
    source: SourceInfo


def parse_aggregated(
    data: bytes, *, file_name: str, options: Options, thresholds: Thresholds
) -> ExperimentData:
    """Read a whole file with pandas (the aggregated layout, or what has no user column)."""
    table, header_findings = _read_table(data, file_name=file_name, thresholds=thresholds)
    if header_findings:
        return ingest.blocked_data(table.source, header_findings, control=options.control)
    return _aggregated(table.frame, source=table.source, options=options)


def _read_table(
    data: bytes, *, file_name: str, thresholds: Thresholds
) -> tuple[_Table, list[Finding]]:
    ingest.check_size(len(data), file_name=file_name, limit=thresholds.max_file_bytes)
    check_bytes(data, file_name=file_name, complete=True)
    text, _ = decode(data, file_name=file_name)
    delimiter = sniff_delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise UnreadableFileError(f"{file_name} is empty: there is no header row.") from None
    except pd.errors.ParserError as error:
        source = _source(data, file_name, rows=0, input_format="aggregated")
        detail = str(error).strip().rstrip(".")
        finding = Finding("blocked", "malformed_csv", f"The CSV is malformed: {detail}.")
        return _Table(pd.DataFrame(), source), [finding]
    findings = ingest.header_findings(_raw_header(text, delimiter, list(frame.columns)))
    if len(frame) and not isinstance(frame.index, pd.RangeIndex):
        frame = _without_extra_fields(frame, findings)
    frame.columns = [normalise_header(c) for c in frame.columns]
    frame = frame.apply(lambda column: column.str.strip())
    layout = "user_level" if find_column(frame.columns, USER_ALIASES) else "aggregated"
    source = _source(data, file_name, rows=len(frame), input_format=layout)
    if not findings and frame.empty:
        findings.append(Finding("blocked", "no_rows", "The file has a header but no data rows."))
    return _Table(frame, source), findings


def _raw_header(text: str, delimiter: str, columns: list[str]) -> list[str]:
    """The header as written: pandas renames a repeated name (``conversions`` → ``conversions.1``),
    which would turn a duplicated column into a metric of its own instead of a finding."""
    first = pd.read_csv(
        io.StringIO(text),
        sep=delimiter,
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
        skipinitialspace=True,
        skip_blank_lines=True,
        engine="c",
    )
    raw = [str(cell) for cell in first.iloc[0]] if len(first) else []
    return raw if len(raw) == len(columns) else columns


def _without_extra_fields(frame: pd.DataFrame, findings: list[Finding]) -> pd.DataFrame:
    """Undo pandas' reading of a first data row longer than the header as an index.

    Empty extra fields (a delimiter at the end of each line) are dropped; anything else in them
    (``control,1,000,50``: an unquoted thousands separator) would shift columns, so it is a finding.
    """
    header = list(frame.columns)
    index_cells = frame.index.to_frame(index=False).to_numpy(dtype=object)
    cells = np.column_stack([index_cells, frame.to_numpy(dtype=object)])
    extra = pd.DataFrame(cells[:, len(header) :]).apply(lambda c: c.astype(str).str.strip() != "")
    filled = np.flatnonzero(extra.to_numpy().any(axis=1))
    if len(filled):
        line = int(filled[0]) + _FIRST_LINE_OF_DATA
        findings.append(
            Finding(
                "blocked",
                "malformed_csv",
                f"Line {line} has more fields than the header's {len(header)}: quote numbers "
                'written with a thousands separator ("1,000") or remove the extra cells.',
                row=line,
            )
        )
    return pd.DataFrame(cells[:, : len(header)], columns=header)


def _source(data: bytes, file_name: str, *, rows: int, input_format: str) -> SourceInfo:
    return SourceInfo(
        file_name=file_name,
        checksum=hashlib.sha256(data).hexdigest(),
        rows=rows,
        input_format=input_format,  # type: ignore[arg-type]
        size_bytes=len(data),
    )


def _aggregated(frame: pd.DataFrame, *, source: SourceInfo, options: Options) -> ExperimentData:
    findings: list[Finding] = []
    variant = find_column(frame.columns, VARIANT_ALIASES, override=options.variant_column)
    conversions = options.primary or "conversions"
    required = {"variant": variant, "users": "users", conversions: conversions}
    missing = [
        label for label, column in required.items() if column is None or column not in frame.columns
    ]
    if missing:
        present = ", ".join(frame.columns)
        findings.append(
            Finding(
                "blocked",
                "missing_column",
                f"Required column(s) {', '.join(missing)} missing; the file has: {present}.",
                row=1,
                column=missing[0],
            )
        )
        return ingest.blocked_data(source, findings, control=options.control)
    assert variant is not None
    segment = "segment" if "segment" in frame.columns else None
    ratios, ratio_taken = _ratio_metrics(frame.columns, findings)
    findings += _ratio_option_findings(options, ratios)
    # r_num_sum with r_num_sum_sq is a ratio's numerator, not a continuous metric "r_num"
    means = [m for m in mean_metric_names(frame.columns) if f"{m}_sum" not in ratio_taken]
    mean_columns = {
        f"{m}{suffix}" for m in means for suffix in (*MEAN_SUFFIXES, *COVARIATE_SUFFIXES)
    }
    taken = {variant, "users", conversions, segment, *mean_columns, *ratio_taken}
    guardrails = tuple(c for c in frame.columns if c.startswith("guardrail_"))
    others = tuple(
        c
        for c in frame.columns
        if c not in taken and c not in guardrails and not c.startswith("pre_")
    )
    # A guardrail (by its name, or named by the guardrails option) is a metric: an empty or
    # non-numeric cell is missing data, not a column of text.
    metrics = {*guardrails, *(spec.name for spec in options.guardrails or ())}
    counts_of = {
        c: _counts(frame, c, findings, required=c in metrics) for c in (*guardrails, *others)
    }
    secondary = tuple(c for c in others if counts_of[c] is not None)
    for column in others:  # text columns (notes, dates) are not metrics
        if counts_of[column] is None:
            findings[:] = [f for f in findings if f.column != column]
    users = _counts(frame, "users", findings, required=True)
    converted = _counts(frame, conversions, findings, required=True)
    labels = frame[variant].str.casefold()
    segments = frame[segment].str.casefold() if segment else None
    rows: list[tuple[str, str, ArmInput]] = []
    seen: dict[tuple[str, str], int] = {}
    for index in range(len(frame)):
        line = index + _FIRST_LINE_OF_DATA
        label = labels.iloc[index]
        seg = segments.iloc[index] if segments is not None else ""
        if not label:
            findings.append(
                ingest.row_finding("empty_label", "The variant label is empty.", line, variant)
            )
            continue
        if (label, seg) in seen:
            where = f" in segment {seg!r}" if seg else ""
            findings.append(
                ingest.row_finding(
                    "duplicate_variant",
                    f"Variant {label!r}{where} appears twice (lines {seen[(label, seg)]} and {line}).",
                    line,
                    variant,
                )
            )
            continue
        seen[(label, seg)] = line
        n, k = (
            users.iloc[index] if users is not None else None,
            converted.iloc[index] if converted is not None else None,
        )
        if pd.isna(n) or pd.isna(k):
            continue
        n, k = int(n), int(k)
        if n == 0:
            findings.append(
                ingest.row_finding("zero_users", f"Variant {label!r} has 0 users.", line, "users")
            )
            continue
        if k > n:
            findings.append(
                ingest.row_finding(
                    "conversions_exceed_users",
                    f"Variant {label!r} has {k} {conversions} but only {n} users.",
                    line,
                    conversions,
                )
            )
            continue
        arm_counts = {
            c: int(v.iloc[index])
            for c, v in counts_of.items()
            if v is not None and not pd.isna(v.iloc[index])
        }
        for column in guardrails:
            if column in arm_counts and arm_counts[column] > n:
                findings.append(
                    Finding(
                        "warning",
                        "multi_count_guardrail",
                        f"{column} counts {arm_counts[column]} events for {n} users in {label!r}: "
                        "several events per user, so its rate is events per user, not a share.",
                        row=line,
                        column=column,
                    )
                )
        arm_means = _row_means(frame, index, means, n, line, findings)
        arm_covariates = _row_covariates(frame, index, arm_means, line, findings)
        arm_ratios, ratio_findings = row_ratios(frame, index, ratios, users=n, line=line)
        findings += ratio_findings
        rows.append(
            (label, seg, ArmInput(label, n, k, arm_counts, arm_means, arm_covariates, arm_ratios))
        )
    return ingest.assemble_arms(
        rows,
        source=source,
        options=options,
        findings=findings,
        guardrails=guardrails,
        secondary=secondary,
        means=tuple(means),
        primary_name=conversions,
        ratios=tuple(ratios),
    )


def _ratio_metrics(columns: Iterable[str], findings: list[Finding]) -> tuple[list[str], set[str]]:
    """Ratio metrics (all five sums present) and every column they take, so that none of those
    columns is read as a continuous or count metric. An ``<r>_num_den_sum`` whose companions
    are missing is a warning, and is itself left out (Σxy alone measures nothing)."""
    names = list(columns)
    ratios, incomplete = ratio_metric_names(names)
    for metric, missing in incomplete.items():
        findings.append(
            Finding(
                "warning",
                "incomplete_ratio",
                f"Ratio metric {metric!r} is missing {', '.join(missing)}: it is not analysed.",
                row=1,
                column=f"{metric}_num_den_sum",
            )
        )
    taken = ratio_columns(ratios, names) | {f"{m}_num_den_sum" for m in incomplete}
    return ratios, taken


def _ratio_option_findings(options: Options, ratios: list[str]) -> list[Finding]:
    """A ratio option names two per-user columns, which an aggregated file does not have."""
    return [
        Finding(
            "warning",
            "ratio_column",
            f"Ratio {spec.name} ({spec.numerator} / {spec.denominator}) is not analysed: an "
            f"aggregated file gives a ratio by five columns per row, {spec.name}_num_sum, "
            f"{spec.name}_num_sum_sq, {spec.name}_den_sum, {spec.name}_den_sum_sq and "
            f"{spec.name}_num_den_sum.",
            row=1,
        )
        for spec in options.ratios
        if spec.name not in ratios
    ]


def _counts(
    frame: pd.DataFrame, column: str, findings: list[Finding], *, required: bool = False
) -> pd.Series | None:
    """Whole, non-negative numbers of a column, or None for a column of text (not a metric)."""
    raw = frame[column]
    numbers = pd.to_numeric(raw.str.replace(",", "", regex=False), errors="coerce")
    values = numbers.to_numpy(dtype=float)  # numpy, not Series arithmetic: 10× less overhead
    bad = np.isnan(values)
    if not required and bad.all():
        return None
    for index in np.flatnonzero(bad)[:3].tolist():
        shown = raw.iloc[index]
        message = (
            f"{column} is {shown!r}, not a number."
            if shown
            else f"{column} is empty: the count is missing (write 0 if there were no events)."
        )
        findings.append(ingest.row_finding("not_a_number", message, index + 2, column))
    with np.errstate(invalid="ignore"):  # inf % 1 is NaN: not whole, so a problem
        problems = ~bad & ((values < 0) | (values % 1 != 0) | (values > _MAX_COUNT))
    for index in np.flatnonzero(problems)[:3].tolist():
        findings.append(
            ingest.row_finding(
                "not_a_count",
                f"{column} is {raw.iloc[index]!r}; counts must be whole, not negative and at "
                "most 2⁵³.",
                index + 2,
                column,
            )
        )
    return pd.Series(np.where(problems, np.nan, values), index=raw.index)


def _row_means(
    frame: pd.DataFrame,
    index: int,
    means: list[str],
    users: int,
    line: int,
    findings: list[Finding],
) -> dict[str, MeanStats]:
    result = {}
    for metric in means:
        try:
            total = float(frame[f"{metric}_sum"].iloc[index])
            total_sq = float(frame[f"{metric}_sum_sq"].iloc[index])
            n_column = f"{metric}_n"
            n = int(float(frame[n_column].iloc[index])) if n_column in frame.columns else users
            if not (math.isfinite(total) and math.isfinite(total_sq)):
                raise ValueError(metric)
        except (ValueError, OverflowError):
            findings.append(
                ingest.row_finding(
                    "not_a_number",
                    f"{metric}_sum, _sum_sq and _n must be numbers.",
                    line,
                    f"{metric}_sum",
                )
            )
            continue
        # Σx² ≥ (Σx)²/n, compared without forming n·Σx² or (Σx)², which overflow near 1e154
        if n < 2 or total_sq < 0 or total_sq < total / n * total * (1 - 1e-9):
            findings.append(
                ingest.row_finding(
                    "inconsistent_moments",
                    f"{metric}: sum of squares {total_sq:g} is impossible for n={n} and sum {total:g} "
                    "(it must be at least sum²/n).",
                    line,
                    f"{metric}_sum_sq",
                )
            )
            continue
        result[metric] = MeanStats(n, total, total_sq)
    return result


def _row_covariates(
    frame: pd.DataFrame, index: int, means: dict[str, MeanStats], line: int, findings: list[Finding]
) -> dict[str, CovariateStats]:
    """CUPED inputs ``<m>_pre_sum``, ``<m>_pre_sum_sq``, ``<m>_cross_sum`` (Σx, Σx², Σxy)."""
    result = {}
    for metric, post in means.items():
        columns = [f"{metric}{suffix}" for suffix in COVARIATE_SUFFIXES]
        if not all(c in frame.columns for c in columns):
            continue
        try:
            pre_total, pre_total_sq, cross = (float(frame[c].iloc[index]) for c in columns)
        except ValueError:
            findings.append(
                ingest.row_finding(
                    "not_a_number", f"{', '.join(columns)} must be numbers.", line, columns[0]
                )
            )
            continue
        if not all(math.isfinite(v) for v in (pre_total, pre_total_sq, cross)):
            findings.append(
                ingest.row_finding("not_a_number", f"{columns[0]} is not finite.", line, columns[0])
            )
            continue
        result[metric] = CovariateStats(
            post.n, post.total, post.total_sq, pre_total, pre_total_sq, cross
        )
    return result
