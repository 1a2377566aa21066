"""The cells of an aggregated file (one row per arm): counts, continuous metrics, CUPED sums and
ratio metrics → sufficient statistics, or findings.

A count must be whole, not negative and at most 2⁵³. A continuous metric ``m`` is ``m_sum``
(Σx) and ``m_sum_sq`` (Σx²) over ``m_n`` users (the row's ``users`` when absent), with optional
CUPED sums ``m_pre_sum``, ``m_pre_sum_sq`` and ``m_cross_sum``. A ratio ``r`` has five sums per
row — ``r_num_sum`` (Σx), ``r_num_sum_sq`` (Σx²), ``r_den_sum`` (Σy), ``r_den_sum_sq`` (Σy²),
``r_num_den_sum`` (Σxy) — over the ``r_n`` users. A cell that is not a finite number, or moments
that no data could have (a negative or too small sum of squares, a covariance beyond
Cauchy–Schwarz), is a finding that names its line and column; the metric is then left out of that
row.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from experimentos.ingest.arms import ROUNDING, below_least_sum_of_squares, row_finding
from experimentos.ingest.columns import COVARIATE_SUFFIXES, RATIO_SUFFIXES
from experimentos.ingest.numbers import Ambiguous, NumberFormat, detect
from experimentos.model import CovariateStats, Finding, MeanStats, RatioStats

_MAX_COUNT = 2**53
"""Larger counts are not exact as floats (nor plausible): 1e308 users is a typo, not data."""


def row_ratios(
    frame: pd.DataFrame, index: int, metrics: list[str], *, users: int, line: int
) -> tuple[dict[str, RatioStats], list[Finding]]:
    """The ratio metrics of one row, and the findings of the cells that could not be read."""
    result: dict[str, RatioStats] = {}
    findings: list[Finding] = []
    for metric in metrics:
        columns = [f"{metric}{suffix}" for suffix in RATIO_SUFFIXES]
        values, bad = _numbers(frame, index, columns, line)
        n, n_finding = _units(frame, index, f"{metric}_n", users=users, line=line)
        findings += bad + ([n_finding] if n_finding else [])
        if bad or n_finding or n is None:
            continue
        stats = RatioStats(n, *values)
        if problem := _impossible(stats, metric, line):
            findings.append(problem)
            continue
        result[metric] = stats
    return result, findings


def _numbers(
    frame: pd.DataFrame, index: int, columns: list[str], line: int
) -> tuple[list[float], list[Finding]]:
    values, findings = [], []
    for column in columns:
        raw = frame[column].iloc[index]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            shown = raw or "an empty cell"
            findings.append(
                row_finding(
                    "not_a_number", f"{column} is {shown!r}, not a finite number.", line, column
                )
            )
        values.append(value)
    return values, findings


def _units(
    frame: pd.DataFrame, index: int, column: str, *, users: int, line: int
) -> tuple[int | None, Finding | None]:
    if column not in frame.columns:
        return users, None
    raw = frame[column].iloc[index]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0 and value % 1 == 0):
        message = f"{column} is {raw or 'an empty cell'!r}; a count of users must be whole and not negative."
        return None, row_finding("not_a_count", message, line, column)
    return int(value), None


def _impossible(stats: RatioStats, metric: str, line: int) -> Finding | None:
    """Moments no data could have: Σx² < (Σx)²/n, or (Sxy)² > Sxx·Syy (Cauchy–Schwarz)."""
    n = stats.n
    for part, total, total_sq in (
        ("num", stats.num_total, stats.num_total_sq),
        ("den", stats.den_total, stats.den_total_sq),
    ):
        column = f"{metric}_{part}_sum_sq"
        if total_sq < 0:
            return row_finding(
                "negative_sum_of_squares",
                f"{column} is {total_sq:g}; a sum of squares cannot be negative.",
                line,
                column,
            )
        if n > 0 and below_least_sum_of_squares(n, total, total_sq):
            return row_finding(
                "inconsistent_moments",
                f"{column} {total_sq:g} is impossible for n={n} and {metric}_{part}_sum "
                f"{total:g} (it must be at least sum²/n).",
                line,
                column,
            )
    if n > 0 and _beyond_cauchy_schwarz(stats):
        column = f"{metric}_num_den_sum"
        return row_finding(
            "inconsistent_moments",
            f"{column} {stats.cross_total:g} is impossible with the numerator's and "
            "denominator's sums and sums of squares (|covariance| above √(var·var)).",
            line,
            column,
        )
    return None


def _beyond_cauchy_schwarz(stats: RatioStats) -> bool:
    """(Sxy)² > Sxx·Syy + slack·Σx²·Σy², every term divided by Σx²·Σy² first, so that moments
    near the float limit (Σy² = 1e307) neither overflow nor raise."""
    n = stats.n
    sxx = max(stats.num_total_sq - stats.num_total / n * stats.num_total, 0.0)
    syy = max(stats.den_total_sq - stats.den_total / n * stats.den_total, 0.0)
    sxy = stats.cross_total - stats.num_total / n * stats.den_total
    if not (stats.num_total_sq > 0 and stats.den_total_sq > 0):
        return sxy != 0  # all x (or all y) are 0: so is every product x·y
    root_x, root_y = math.sqrt(stats.num_total_sq), math.sqrt(stats.den_total_sq)
    correlation_like = sxy / root_x / root_y
    return (
        correlation_like * correlation_like
        > (sxx / root_x / root_x) * (syy / root_y / root_y) + ROUNDING
    )


def column_counts(
    frame: pd.DataFrame,
    column: str,
    findings: list[Finding],
    *,
    required: bool = False,
    delimiter: str = ",",
) -> pd.Series | None:
    """Whole, non-negative numbers of a column, or None for a column of text (not a metric).

    Counts written with thousands separators (``1,234``, ``1.234.567``) are read, and said in
    one info finding; a count is whole, so ``1,234`` can only be 1234 even where a decimal comma
    is possible. A decimal comma (``12,50``) is not a count, and is refused.
    """
    raw = frame[column]
    values, fmt = _count_values(raw, delimiter)
    bad = np.isnan(values)
    if not required and bad.all():
        return None
    if fmt is not None:
        findings += _separator_note(raw, values, fmt, column)
    for index in np.flatnonzero(bad)[:3].tolist():
        shown = raw.iloc[index]
        message = (
            f"{column} is {shown!r}, not a number."
            + (" It is a rate: give counts, not rates." if shown.endswith("%") else "")
            if shown
            else f"{column} is empty: the count is missing (write 0 if there were no events)."
        )
        findings.append(row_finding("not_a_number", message, index + 2, column))
    with np.errstate(invalid="ignore"):  # inf % 1 is NaN: not whole, so a problem
        problems = ~bad & ((values < 0) | (values % 1 != 0) | (values > _MAX_COUNT))
    for index in np.flatnonzero(problems)[:3].tolist():
        value = values[index]
        if fmt is not None and fmt.decimal == "," and "," in raw.iloc[index]:
            findings.append(_decimal_comma(raw.iloc[index], value, index + 2, column))
            continue
        rate = (
            f" It looks like a rate: give counts, not rates (the number of users with the event, "
            f"e.g. {value:g} × users)."
            if 0 < value < 1
            else ""
        )
        findings.append(
            row_finding(
                "not_a_count",
                f"{column} is {raw.iloc[index]!r}; counts must be whole, not negative and at "
                f"most 2⁵³.{rate}",
                index + 2,
                column,
            )
        )
    return pd.Series(np.where(problems, np.nan, values), index=raw.index)


def _count_values(raw: pd.Series, delimiter: str) -> tuple[np.ndarray, NumberFormat | None]:
    """The cells as floats (NaN when not a number) and the separators they were written with."""
    found = detect(raw.tolist(), delimiter=delimiter)
    fmt = NumberFormat(",", ".") if isinstance(found, Ambiguous) else found
    if fmt is None or fmt.percent:  # a rate: refused below as "give counts, not rates"
        # numpy, not Series arithmetic: 10× less overhead
        return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float), None
    parsed = [fmt.parse(c) for c in raw.tolist()]
    return np.array([math.nan if v is None else v for v in parsed], dtype=float), fmt


def _separator_note(
    raw: pd.Series, values: np.ndarray, fmt: NumberFormat, column: str
) -> list[Finding]:
    """``read '1,234' as 1234 in column users (3 cells)``: the conversion, said once."""
    marked = [
        k
        for k, cell in enumerate(raw.tolist())
        if not math.isnan(values[k]) and fmt.group in cell and values[k] % 1 == 0
    ]
    if not marked:
        return []
    cell, value = raw.iloc[marked[0]], values[marked[0]]
    count = f"{len(marked):,} cell{'s' if len(marked) > 1 else ''}"
    return [
        Finding(
            "info",
            "thousands_separators",
            f"Read {cell!r} as {value:.0f} in column {column} ({count} written with "
            f"{fmt.group!r} thousands separators; a count is whole, so {fmt.group!r} cannot be "
            "a decimal mark).",
            row=marked[0] + 2,
            column=column,
        )
    ]


def _decimal_comma(cell: str, value: float, line: int, column: str) -> Finding:
    return row_finding(
        "decimal_comma_count",
        f"{column} is {cell!r}, a number with a decimal comma ({value:g}): a count must be whole "
        "(the number of users, or of users with the event). Give counts, not rates or averages.",
        line,
        column,
    )


def row_means(
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
                row_finding(
                    "not_a_number",
                    f"{metric}_sum, _sum_sq and _n must be numbers.",
                    line,
                    f"{metric}_sum",
                )
            )
            continue
        if n < 2 or total_sq < 0 or below_least_sum_of_squares(n, total, total_sq):
            findings.append(
                row_finding(
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


def row_covariates(
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
                row_finding(
                    "not_a_number", f"{', '.join(columns)} must be numbers.", line, columns[0]
                )
            )
            continue
        if not all(math.isfinite(v) for v in (pre_total, pre_total_sq, cross)):
            findings.append(
                row_finding("not_a_number", f"{columns[0]} is not finite.", line, columns[0])
            )
            continue
        result[metric] = CovariateStats(
            post.n, post.total, post.total_sq, pre_total, pre_total_sq, cross
        )
    return result
