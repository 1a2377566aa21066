"""Aggregated files (one row per variant, or variant × segment) → a StatsTable, with pandas.

These files are small (a row per arm), so pandas reads them whole, every cell as a stripped string.
The file was sniffed once (``ingest.sniff``): its head gives the delimiter, the header as written
and, when the head is the whole file, the decoded text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experimentos.errors import UnreadableFileError
from experimentos.ingest.aggregated_cells import (
    column_counts,
    row_covariates,
    row_means,
    row_ratios,
)
from experimentos.ingest.arms import (
    header_findings,
    ratio_option_findings,
    row_finding,
)
from experimentos.ingest.columns import (
    AGGREGATED_PRIMARY,
    COVARIATE_SUFFIXES,
    MEAN_SUFFIXES,
    USER_ALIASES,
    VARIANT_ALIASES,
    find_column,
    is_guardrail,
    is_pre_period,
    mean_metric_names,
    normalise_header,
    not_a_metric,
    ratio_columns,
    ratio_metric_names,
    untested_message,
)
from experimentos.ingest.sniff import Head, decode
from experimentos.ingest.stats_table import GroupStats, StatsTable, refused
from experimentos.model import (
    ArmInput,
    Finding,
    MetricKind,
    Options,
    RatioSpec,
    SourceInfo,
)

_FIRST_LINE_OF_DATA = 2  # line 1 is the header


@dataclass(frozen=True, slots=True)
class _Roles:
    """What each column of the file is."""

    variant: str
    primary: str
    segment: str | None
    ratios: list[str]
    means: list[str]
    guardrails: tuple[str, ...]
    others: tuple[str, ...]
    """Columns that may be secondary counts (or text: notes, dates)."""
    required: frozenset[str]
    """Metrics whose cells must be numbers: guardrails by name or named by the options."""
    skipped: tuple[tuple[str, str], ...] = ()
    """Columns that are not outcomes (identifiers, dates, …): (name, why)."""
    primary_kind: MetricKind = "proportion"
    """A count column, or the ``<m>_sum``/``<m>_sum_sq`` (mean) or five ratio sums of the primary."""


@dataclass(frozen=True, slots=True)
class _Counts:
    """The whole-number columns of the file, NaN where a cell is not a count."""

    users: pd.Series
    conversions: pd.Series
    metrics: dict[str, pd.Series]
    """Guardrail and secondary count columns (text columns left out)."""


def read_aggregated(data: bytes, head: Head, *, file_name: str, options: Options) -> StatsTable:
    """Read a whole file with pandas (the aggregated layout, or what has no user column)."""
    primary = options.primary or AGGREGATED_PRIMARY
    source = SourceInfo(file_name, "", rows=0, input_format="aggregated", size_bytes=len(data))
    text = head.text if head.text is not None else decode(data, file_name=file_name)[0]
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=head.delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise UnreadableFileError(f"{file_name} is empty: there is no header row.") from None
    except pd.errors.ParserError as error:
        detail = str(error).strip().rstrip(".")
        finding = Finding("blocked", "malformed_csv", f"The CSV is malformed: {detail}.")
        return refused(source, [finding], primary=primary)
    findings = header_findings(_raw_header(head, text, list(frame.columns)))
    if len(frame) and not isinstance(frame.index, pd.RangeIndex):
        frame = _without_extra_fields(frame, findings)
    frame.columns = [normalise_header(c) for c in frame.columns]
    frame = frame.apply(lambda column: column.str.strip())
    layout = "user_level" if find_column(frame.columns, USER_ALIASES) else "aggregated"
    source = SourceInfo(file_name, "", len(frame), layout, size_bytes=len(data))
    if not findings and frame.empty:
        findings.append(Finding("blocked", "no_rows", "The file has a header but no data rows."))
    if findings:
        return refused(source, findings, primary=primary)
    return _table(frame, source=source, primary=primary, options=options, delimiter=head.delimiter)


def _raw_header(head: Head, text: str, columns: list[str]) -> list[str]:
    """The header as written: pandas renames a repeated name (``conversions`` → ``conversions.1``),
    which would turn a duplicated column into a metric of its own instead of a finding.

    The sniffed head's header is it, unless the first line pandas reads is not the first line
    with text (white space before the header): then pandas' first row is read again.
    """
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    if first_line.strip() and len(head.header) == len(columns):
        return [str(cell) for cell in head.header]
    first = pd.read_csv(
        io.StringIO(text),
        sep=head.delimiter,
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


def _table(
    frame: pd.DataFrame, *, source: SourceInfo, primary: str, options: Options, delimiter: str
) -> StatsTable:
    findings: list[Finding] = []
    roles = _roles(frame, primary=primary, options=options, findings=findings)
    if roles is None:
        return refused(source, findings, primary=primary)
    counts = _all_counts(frame, roles, findings, delimiter=delimiter)
    findings += _untested(roles, counts, options)
    groups = _groups(frame, roles, counts, findings)
    return StatsTable(
        source,
        primary,
        tuple(findings),
        tuple(groups),
        guardrails=roles.guardrails,
        secondary=tuple(c for c in roles.others if c in counts.metrics),
        means=tuple(roles.means),
        ratios=tuple(roles.ratios),
        primary_kind=roles.primary_kind,
    )


def _untested(roles: _Roles, counts: _Counts, options: Options) -> list[Finding]:
    """One info finding naming every column not tested and why; a named metric not found."""
    text = [(c, "text") for c in roles.others if c not in counts.metrics]
    skipped = [*roles.skipped, *text]
    findings = []
    if skipped:
        message = untested_message(skipped)
        findings.append(Finding("info", "columns_not_tested", message, row=1, column=skipped[0][0]))
    everything = {*counts.metrics, *roles.guardrails, *roles.means, *roles.ratios, roles.primary}
    if missing := [m for m in options.metrics or () if m not in everything]:
        findings.append(
            Finding(
                "warning",
                "metric_not_found",
                f"metrics names {', '.join(missing)}, which the file does not have as a metric: "
                "not tested.",
                row=1,
                column=missing[0],
            )
        )
    return findings


def _roles(
    frame: pd.DataFrame, *, primary: str, options: Options, findings: list[Finding]
) -> _Roles | None:
    """The variant, users and primary columns (None, with a finding, when one is missing), and
    what every other column is."""
    variant = find_column(frame.columns, VARIANT_ALIASES, override=options.variant_column)
    ratios, ratio_taken = _ratio_metrics(frame.columns, findings)
    # r_num_sum with r_num_sum_sq is a ratio's numerator, not a continuous metric "r_num"
    means = [m for m in mean_metric_names(frame.columns) if f"{m}_sum" not in ratio_taken]
    kind = _primary_kind(frame.columns, primary, means, ratios) if options.primary else "proportion"
    required = {"variant": variant, "users": "users"}
    if kind == "proportion":
        required[primary] = primary
    missing = [label for label, c in required.items() if c is None or c not in frame.columns]
    if missing or variant is None:
        findings.append(
            Finding(
                "blocked",
                "missing_column",
                f"Required column(s) {', '.join(missing)} missing; the file has: "
                f"{', '.join(frame.columns)}.",
                row=1,
                column=missing[0],
            )
        )
        return None
    segment = "segment" if "segment" in frame.columns else None
    findings += ratio_option_findings(options, ratios, _ratio_option_problem)
    suffixes = (*MEAN_SUFFIXES, *COVARIATE_SUFFIXES)
    taken = {variant, "users", primary, segment, *ratio_taken}
    taken |= {f"{m}{suffix}" for m in means for suffix in suffixes}
    guardrails = tuple(c for c in frame.columns if is_guardrail(c))
    candidates = [
        c for c in frame.columns if c not in taken and c not in guardrails and not is_pre_period(c)
    ]
    skipped = tuple(
        (c, why)
        for position, c in enumerate(frame.columns)
        if c in candidates and (why := _not_tested(frame, c, position, options.metrics))
    )
    others = tuple(c for c in candidates if c not in dict(skipped))
    # A guardrail (by its name, or named by the guardrails option) is a metric: an empty or
    # non-numeric cell is missing data, not a column of text.
    named = frozenset({*guardrails, *(spec.name for spec in options.guardrails or ())})
    return _Roles(
        variant, primary, segment, ratios, means, guardrails, others, named, skipped, kind
    )


def _not_tested(
    frame: pd.DataFrame, column: str, position: int, metrics: tuple[str, ...] | None
) -> str | None:
    """Why a column that may be a secondary count is not one (None: it is tested)."""
    if metrics is not None:
        return None if column in metrics else "not named in metrics"
    return not_a_metric(column, frame[column].tolist(), position=position)


def _primary_kind(
    columns: Iterable[str], primary: str, means: list[str], ratios: list[str]
) -> MetricKind:
    """A count column of that name is a proportion primary; failing that, a continuous metric's
    ``<primary>_sum`` and ``_sum_sq`` make a mean primary, a ratio's five sums a ratio primary."""
    if primary not in columns and primary in means:
        return "mean"
    if primary not in columns and primary in ratios:
        return "ratio"
    return "proportion"


def _ratio_option_problem(spec: RatioSpec) -> tuple[str, int | None, str | None]:
    """A ratio option names two per-user columns, which an aggregated file does not have."""
    name = spec.name
    return (
        f"an aggregated file gives a ratio by five columns per row, {name}_num_sum, "
        f"{name}_num_sum_sq, {name}_den_sum, {name}_den_sum_sq and {name}_num_den_sum",
        1,
        None,
    )


def _all_counts(
    frame: pd.DataFrame, roles: _Roles, findings: list[Finding], *, delimiter: str
) -> _Counts:
    """Guardrail and secondary counts (text columns are not metrics), then users and primary."""
    metrics = {
        c: column_counts(frame, c, findings, required=c in roles.required, delimiter=delimiter)
        for c in (*roles.guardrails, *roles.others)
    }
    for column in roles.others:  # text columns (notes, dates) are not metrics
        if metrics[column] is None:
            findings[:] = [f for f in findings if f.column != column]
    users = column_counts(frame, "users", findings, required=True, delimiter=delimiter)
    if roles.primary_kind == "proportion":
        conversions = column_counts(
            frame, roles.primary, findings, required=True, delimiter=delimiter
        )
    else:  # a continuous or ratio primary counts no conversions
        conversions = pd.Series(0, index=frame.index)
    assert users is not None and conversions is not None
    kept = {c: v for c, v in metrics.items() if v is not None}
    return _Counts(users, conversions, kept)


def _groups(
    frame: pd.DataFrame, roles: _Roles, counts: _Counts, findings: list[Finding]
) -> list[GroupStats]:
    """One group per readable row, in file order; a row with a problem is a finding instead."""
    labels = frame[roles.variant].str.casefold()
    segments = frame[roles.segment].str.casefold() if roles.segment else None
    groups: list[GroupStats] = []
    seen: dict[tuple[str, str], int] = {}
    for index in range(len(frame)):
        line = index + _FIRST_LINE_OF_DATA
        label = labels.iloc[index]
        segment = segments.iloc[index] if segments is not None else ""
        if problem := _key_problem(label, segment, line, roles.variant, seen):
            findings.append(problem)
            continue
        seen[(label, segment)] = line
        n, k = counts.users.iloc[index], counts.conversions.iloc[index]
        if pd.isna(n) or pd.isna(k):
            continue
        if problem := _count_problem(label, int(n), int(k), line, roles.primary):
            findings.append(problem)
            continue
        arm = _row_arm(frame, index, label, int(n), int(k), line, roles, counts, findings)
        groups.append(GroupStats(segment, arm))
    return groups


def _key_problem(
    label: str, segment: str, line: int, variant: str, seen: dict[tuple[str, str], int]
) -> Finding | None:
    """An empty variant label, or a variant (in a segment) already seen."""
    if not label:
        return row_finding("empty_label", "The variant label is empty.", line, variant)
    if (label, segment) in seen:
        where = f" in segment {segment!r}" if segment else ""
        return row_finding(
            "duplicate_variant",
            f"Variant {label!r}{where} appears twice (lines {seen[(label, segment)]} and {line}).",
            line,
            variant,
        )
    return None


def _count_problem(label: str, n: int, k: int, line: int, primary: str) -> Finding | None:
    if n == 0:
        return row_finding("zero_users", f"Variant {label!r} has 0 users.", line, "users")
    if k > n:
        return row_finding(
            "conversions_exceed_users",
            f"Variant {label!r} has {k} {primary} but only {n} users.",
            line,
            primary,
        )
    return None


def _row_arm(
    frame: pd.DataFrame,
    index: int,
    label: str,
    n: int,
    k: int,
    line: int,
    roles: _Roles,
    counts: _Counts,
    findings: list[Finding],
) -> ArmInput:
    """Everything one row measures; cells that cannot be read are findings and left out."""
    arm_counts = {
        c: int(v.iloc[index]) for c, v in counts.metrics.items() if not pd.isna(v.iloc[index])
    }
    findings += _multi_count_findings(arm_counts, roles.guardrails, label, n, line)
    arm_means = row_means(frame, index, roles.means, n, line, findings)
    arm_covariates = row_covariates(frame, index, arm_means, line, findings)
    arm_ratios, ratio_findings = row_ratios(frame, index, roles.ratios, users=n, line=line)
    findings += ratio_findings
    return ArmInput(label, n, k, arm_counts, arm_means, arm_covariates, arm_ratios)


def _multi_count_findings(
    arm_counts: dict[str, int], guardrails: tuple[str, ...], label: str, n: int, line: int
) -> list[Finding]:
    """A guardrail counting more events than users: its rate is events per user, not a share."""
    return [
        Finding(
            "warning",
            "multi_count_guardrail",
            f"{column} counts {arm_counts[column]} events for {n} users in {label!r}: "
            "several events per user, so its rate is events per user, not a share.",
            row=line,
            column=column,
        )
        for column in guardrails
        if column in arm_counts and arm_counts[column] > n
    ]


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
