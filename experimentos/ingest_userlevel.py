"""User-level files (one row per user) → the same per-arm sufficient statistics, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experimentos import ingest
from experimentos.ingest_columns import (
    USER_ALIASES,
    VARIANT_ALIASES,
    as_binary,
    find_column,
)
from experimentos.model import (
    ArmInput,
    ExperimentData,
    Finding,
    MeanStats,
    Options,
    SourceInfo,
    Thresholds,
)

_OUTLIER_RATIO = 10.0
"""A value more than this multiple of the 99.9th percentile is an extreme outlier."""
CAPPED_SUFFIX = " (capped at p99.9)"


def aggregate_user_level(
    frame: pd.DataFrame, *, source: SourceInfo, options: Options, thresholds: Thresholds
) -> ExperimentData:
    findings: list[Finding] = []
    user = find_column(frame.columns, USER_ALIASES, override=options.user_column)
    variant = find_column(frame.columns, VARIANT_ALIASES, override=options.variant_column)
    if user is None or variant is None:
        return _missing(source, options, "variant" if variant is None else "user_id", frame)
    segment = "segment" if "segment" in frame.columns else None
    binary, numeric = _classify(frame, exclude={user, variant, segment})
    primary = options.primary or "converted"
    if primary not in binary:
        return _no_primary(source, options, primary, frame, binary)
    frame = frame.assign(**{variant: frame[variant].str.casefold()})
    findings += _cell_findings(frame, variant, primary, binary[primary])
    findings += _count_findings(numeric)
    keep = (frame[variant] != "") & binary[primary].notna()
    frame, binary, numeric = frame[keep], _subset(binary, keep), _subset(numeric, keep)
    frame, excluded = _drop_multi_variant_users(frame, user, variant, thresholds, findings)
    binary, numeric = _subset(binary, ~excluded), _subset(numeric, ~excluded)
    per_user = _per_user(frame, user, variant, segment, binary, numeric)
    capped = _capped_outliers(per_user, numeric, findings)
    guardrails = tuple(c for c in (*binary, *numeric) if c.startswith("guardrail_"))
    counted = {c for c in binary if c != primary} | set(guardrails)
    means = tuple(c for c in numeric if c not in guardrails and not c.startswith("pre_"))
    rows = _arm_rows(per_user, primary, counted, (*means, *capped), segment=segment)
    return ingest.assemble_arms(
        rows,
        source=source,
        options=options,
        findings=findings,
        guardrails=guardrails,
        secondary=tuple(sorted(counted - set(guardrails))),
        means=(*means, *capped),
        primary_name=primary,
    )


def _classify(
    frame: pd.DataFrame, *, exclude: set[str | None]
) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    binary: dict[str, pd.Series] = {}
    numeric: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column in exclude:
            continue
        as_01 = as_binary(frame[column])
        if as_01 is not None:
            binary[column] = as_01
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        values = values.where(np.isfinite(values))  # "inf" is not a measurement
        if (
            values.notna().sum() == (frame[column] != "").sum()
            and values.notna().any()
            and np.isfinite(values.abs().sum())  # sums per arm cannot overflow
        ):
            numeric[column] = values
    return binary, numeric


def _subset(columns: dict[str, pd.Series], mask: pd.Series) -> dict[str, pd.Series]:
    return {name: values[mask] for name, values in columns.items()}


def _cell_findings(
    frame: pd.DataFrame, variant: str, primary: str, values: pd.Series
) -> list[Finding]:
    findings = []
    for column, bad in ((variant, frame[variant] == ""), (primary, values.isna())):
        lines = (np.flatnonzero(bad.to_numpy()) + 2)[:3]
        if len(lines):
            findings.append(
                Finding(
                    "blocked",
                    "empty_cell",
                    f"{int(bad.sum())} row(s) have no {column} value (first at line "
                    f"{', '.join(map(str, lines))}).",
                    row=int(lines[0]),
                    column=column,
                )
            )
    return findings


def _count_findings(numeric: dict[str, pd.Series]) -> list[Finding]:
    """Numeric guardrail columns count events per user: whole numbers, never negative."""
    findings = []
    for column, values in numeric.items():
        if not column.startswith("guardrail_"):
            continue
        bad = ((values < 0) | (values % 1 != 0)).to_numpy()
        lines = (np.flatnonzero(bad) + 2)[:3]
        if len(lines):
            findings.append(
                Finding(
                    "blocked", "not_a_count",
                    f"{int(bad.sum())} row(s) have a {column} count that is negative or not whole "
                    f"(first at line {', '.join(map(str, lines))}).", row=int(lines[0]), column=column,
                )  # fmt: skip
            )
    return findings


def _drop_multi_variant_users(
    frame: pd.DataFrame, user: str, variant: str, thresholds: Thresholds, findings: list[Finding]
) -> tuple[pd.DataFrame, pd.Series]:
    arms_per_user = frame.groupby(user, sort=False)[variant].nunique()
    crossed = arms_per_user[arms_per_user > 1]
    excluded = frame[user].isin(crossed.index)
    if len(crossed):
        share = len(crossed) / len(arms_per_user)
        severity = "blocked" if share > thresholds.duplicate_user_blocked_share else "warning"
        first = int(np.flatnonzero(excluded.to_numpy())[0]) + 2
        findings.append(
            Finding(
                severity,
                "user_in_several_variants",
                f"{len(crossed)} users ({share:.2%}) appear in more than one variant (first at line "
                f"{first}); they were left out of the analysis. Check the assignment.",
                row=first,
                column=user,
            )
        )
    return frame[~excluded], excluded


def _per_user(
    frame: pd.DataFrame,
    user: str,
    variant: str,
    segment: str | None,
    binary: dict[str, pd.Series],
    numeric: dict[str, pd.Series],
) -> pd.DataFrame:
    """One row per user: 0/1 metrics by max (converted at least once), numbers summed."""
    work = pd.DataFrame({"__user": frame[user], "__arm": frame[variant]})
    if segment:
        work["__segment"] = frame[segment].str.casefold()
    for name, values in binary.items():
        work[name] = values.fillna(0.0)
    for name, values in numeric.items():
        work[name] = values
    keys = ["__user", "__arm"]
    if len(work) == work["__user"].nunique():  # the usual case: already one row per user
        return work
    how = dict.fromkeys(binary, "max") | dict.fromkeys(numeric, "sum")
    if segment:
        how["__segment"] = "first"
    return work.groupby(keys, sort=False, as_index=False).agg(how)


def _capped_outliers(
    per_user: pd.DataFrame, numeric: dict[str, pd.Series], findings: list[Finding]
) -> tuple[str, ...]:
    capped = []
    for name in numeric:
        if name.startswith(("guardrail_", "pre_")):
            continue
        values = per_user[name]
        cap = float(values.quantile(0.999))
        top = float(values.max())
        if cap > 0 and top > _OUTLIER_RATIO * cap:
            median = float(values.median())
            findings.append(
                Finding(
                    "info",
                    "extreme_outlier",
                    f"{name} has an extreme outlier: {top:,.0f} against a median of {median:,.0f} "
                    f"and a 99.9th percentile of {cap:,.0f}. The metric is also reported capped "
                    f"at {cap:,.0f}.",
                    column=name,
                )
            )
            per_user[name + CAPPED_SUFFIX] = values.clip(upper=cap)
            capped.append(name + CAPPED_SUFFIX)
    return tuple(capped)


def _arm_rows(
    per_user: pd.DataFrame,
    primary: str,
    counted: set[str],
    means: tuple[str, ...],
    *,
    segment: str | None,
) -> list[tuple[str, str, ArmInput]]:
    keys = ["__arm", "__segment"] if segment else ["__arm"]
    grouped = per_user.groupby(keys, sort=False)
    sums = grouped[[primary, *counted, *means]].sum()
    sizes = grouped.size()
    nonnull = grouped[list(means)].count() if means else None
    squares = (
        (per_user[list(means)] ** 2).groupby([per_user[k] for k in keys], sort=False).sum()
        if means
        else None
    )
    rows = []
    for key in sizes.index:
        arm, seg = key if segment else (key, "")
        stats = (
            {
                m: MeanStats(
                    int(nonnull.loc[key, m]), float(sums.loc[key, m]), float(squares.loc[key, m])
                )
                for m in means
            }
            if means
            else {}
        )
        counts = {c: int(sums.loc[key, c]) for c in counted}
        rows.append(
            (arm, seg, ArmInput(arm, int(sizes[key]), int(sums.loc[key, primary]), counts, stats))
        )
    return rows


def _missing(
    source: SourceInfo, options: Options, what: str, frame: pd.DataFrame
) -> ExperimentData:
    aliases = VARIANT_ALIASES if what == "variant" else USER_ALIASES
    message = (
        f"No {what} column: name one of {', '.join(aliases)}, or say which column it is "
        f"(the file has: {', '.join(frame.columns)})."
    )
    finding = Finding("blocked", "missing_column", message, row=1, column=what)
    return ingest.blocked_data(source, [finding], control=options.control)


def _no_primary(
    source: SourceInfo,
    options: Options,
    primary: str,
    frame: pd.DataFrame,
    binary: dict[str, pd.Series],
) -> ExperimentData:
    if primary in frame.columns:
        message = f"The primary metric {primary!r} must be 0/1 or TRUE/FALSE for every user."
    else:
        candidates = ", ".join(binary) or "none"
        message = (
            f"No {primary!r} column for the primary metric. Say which 0/1 column it is with "
            f"primary (0/1 columns in the file: {candidates})."
        )
    finding = Finding("blocked", "missing_primary", message, row=1, column=primary)
    return ingest.blocked_data(source, [finding], control=options.control)
