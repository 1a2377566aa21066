"""Column names of real exports: normalisation, aliases, metric families, boolean words."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
        and not column.startswith("pre_")
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
