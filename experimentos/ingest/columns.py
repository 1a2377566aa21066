"""Column names of real exports: normalisation, aliases, roles by prefix, metric families,
boolean words, and the primary metric each kind of file looks for by default."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Sequence

AGGREGATED_PRIMARY = "conversions"
"""The primary's column in an aggregated file (one row per variant) unless the options name one."""
USER_LEVEL_PRIMARY = "converted"
"""The primary's 0/1 column in a user-level file (one row per user) unless the options name one."""
GUARDRAIL_PREFIX = "guardrail_"
"""A column named ``guardrail_<m>`` is a guardrail metric."""
PRE_PERIOD_PREFIX = "pre_"
"""A column named ``pre_<m>`` is the pre-period covariate of ``<m>`` (CUPED), never a metric."""

USER_ALIASES = ("user_id", "userid", "user id", "uid", "user")
VARIANT_ALIASES = ("variant", "group", "test group", "version", "arm", "bucket")
MEAN_SUFFIXES = ("_sum", "_sum_sq", "_n")
COVARIATE_SUFFIXES = ("_pre_sum", "_pre_sum_sq", "_cross_sum")
RATIO_SUFFIXES = ("_num_sum", "_num_sum_sq", "_den_sum", "_den_sum_sq", "_num_den_sum")
"""A ratio metric r = Σx / Σy: Σx, Σx², Σy, Σy², Σxy (optional ``<r>_n``: users, by default)."""

TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "f"})


def normalise_header(name: str) -> str:
    """Trim, case-fold and collapse inner white space: ``' Test  Group'`` → ``'test group'``."""
    return re.sub(r"\s+", " ", str(name).strip().casefold())


def is_guardrail(name: str, *, named: Collection[str] = ()) -> bool:
    """A guardrail by its name's prefix, or because the guardrails option ``named`` it."""
    return name.startswith(GUARDRAIL_PREFIX) or name in named


def is_pre_period(name: str) -> bool:
    """A pre-period covariate column (``pre_<m>``), not a metric of its own."""
    return name.startswith(PRE_PERIOD_PREFIX)


def pre_period_of(metric: str) -> str:
    """The column holding the pre-period covariate of ``metric`` in a user-level file."""
    return PRE_PERIOD_PREFIX + metric


def find_column(
    columns: Iterable[str], aliases: tuple[str, ...], *, override: str | None = None
) -> str | None:
    """The first column named by ``override`` or, failing that, by one of ``aliases``."""
    names = list(columns)
    if override is not None:
        wanted = normalise_header(override)
        return wanted if wanted in names else None
    return next((alias for alias in aliases if alias in names), None)


def mean_metric_names(columns: Iterable[str]) -> list[str]:
    """Continuous metrics given as sufficient statistics: ``<m>_sum`` with ``<m>_sum_sq``."""
    names = set(columns)
    return [
        column[: -len("_sum")]
        for column in columns
        if column.endswith("_sum")
        and f"{column}_sq" in names
        and not is_pre_period(column)
        and not column[: -len("_sum")].endswith("_pre")
        and not column.endswith("_cross_sum")
    ]


def ratio_metric_names(columns: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Ratio metrics given as the five sums of :data:`RATIO_SUFFIXES`, and the incomplete ones.

    A ratio ``r`` is recognised by ``r_num_den_sum`` (Σxy, the column no other family uses) with
    the four others present; the second value maps each incomplete one to its missing columns.
    """
    names = list(columns)
    present = set(names)
    complete: list[str] = []
    incomplete: dict[str, list[str]] = {}
    cross = RATIO_SUFFIXES[-1]
    for column in names:
        metric = column[: -len(cross)]
        if not column.endswith(cross) or not metric:
            continue
        missing = [f"{metric}{s}" for s in RATIO_SUFFIXES if f"{metric}{s}" not in present]
        if missing:
            incomplete[metric] = missing
        else:
            complete.append(metric)
    return complete, incomplete


def ratio_columns(metrics: Iterable[str], columns: Iterable[str]) -> set[str]:
    """Every column that belongs to the ratio metrics (their five sums and any ``<r>_n``)."""
    present = set(columns)
    taken = set()
    for metric in metrics:
        taken |= {f"{metric}{s}" for s in RATIO_SUFFIXES}
        if f"{metric}_n" in present:
            taken.add(f"{metric}_n")
    return taken


# --------------------------------------------------------------------------- not metrics

_ID_NAME = re.compile(
    r"(^|[ _.-])(id|ids|uuid|guid)$|^(id|uuid|guid)([ _.-]|$)"
    r"|^(user|customer|client|account|member|visitor|session|device|order|market|location|store"
    r"|shop|product|item|campaign|ad|event|transaction|row|record)(id|key|number|no)$"
)
_ROW_NAME = re.compile(r"^(|#|index|idx|row|row ?(number|no|num|id)|unnamed: \d+)$")
_HOUR_NAME = re.compile(r"(^|[ _])(hour|hr|hod|time of day)([ _]|$)|hour$")
_WEEKDAY_NAME = re.compile(r"(^|[ _])(weekday|day of week|dow|wday|day)([ _]|$)|(week)?day$")
_PERIOD_NAME = re.compile(r"^(day|week|month|year|quarter|period|week number|week no)$")
_DATE_NAME = re.compile(r"(^|[ _])(date|day|time|timestamp|datetime|ts)$|_at$|^(date|time)")
_WEEKDAYS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
    | {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_SLASH_DATE = re.compile(r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}( \d{1,2}:\d{2}(:\d{2})?)?")
_WHOLE = re.compile(r"[+-]?\d+")
_MIN_ROWS_FOR_ROW_NUMBER = 20
"""Fewer rows counting up by one may be counts that happen to (an aggregated file's rows)."""


def not_a_metric(name: str, cells: Sequence[str], *, position: int) -> str | None:
    """Why the column ``name`` (normalised, at 0-based ``position``) is not an outcome, judged
    by its name and its sampled ``cells``; None when it may be one.

    Identifiers, dates and timestamps, times of day, weekdays, calendar periods and row numbers
    are never tested: their "lift" is an artefact of when or in what order rows were written.
    """
    filled = [c.strip() for c in cells if c.strip()]
    if position == 0 and name in ("", "unnamed: 0") and _row_numbers(filled, allow_short=True):
        return "no name: the row index pandas writes"
    if _ROW_NAME.fullmatch(name) or (position == 0 and _row_numbers(filled)):
        return "row number"
    if _ID_NAME.search(name):
        return "identifier"
    if filled and all(_ISO_DATE.fullmatch(c) or _SLASH_DATE.fullmatch(c) for c in filled):
        return "date or timestamp"
    if filled and all(c.casefold() in _WEEKDAYS for c in filled):
        return "weekday"
    whole = [int(c) for c in filled if _WHOLE.fullmatch(c)]
    if not filled or len(whole) != len(filled):
        return "date or timestamp" if _DATE_NAME.search(name) and not whole else None
    if _HOUR_NAME.search(name) and all(0 <= v <= 24 for v in whole):
        return "time of day"
    if _WEEKDAY_NAME.search(name) and all(0 <= v <= 7 for v in whole):
        return "weekday"
    if _PERIOD_NAME.fullmatch(name) and all(0 <= v <= 9999 for v in whole):
        return "calendar period"
    return None


def _row_numbers(cells: Sequence[str], *, allow_short: bool = False) -> bool:
    """Whole numbers counting up by one from 0 or 1, in file order."""
    if not cells or not all(_WHOLE.fullmatch(c) for c in cells):
        return False
    if len(cells) < _MIN_ROWS_FOR_ROW_NUMBER and not allow_short:
        return False
    values = [int(c) for c in cells]
    return values[0] in (0, 1) and all(b - a == 1 for a, b in itertools.pairwise(values))


def untested_message(skipped: Sequence[tuple[str, str]]) -> str:
    """``[("hour", "time of day"), ("user id", "identifier")]`` → the info finding's text."""
    listed = ", ".join(
        f"{name} ({why})" if name else f"the first column ({why})" for name, why in skipped
    )
    plural = "s" if len(skipped) > 1 else ""
    return f"{len(skipped)} column{plural} not tested as metrics: {listed}."
