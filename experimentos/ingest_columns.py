"""Column names of real exports: normalisation, aliases, metric families, boolean words."""

from __future__ import annotations

import re
from collections.abc import Iterable

USER_ALIASES = ("user_id", "userid", "user id", "uid", "user")
VARIANT_ALIASES = ("variant", "group", "test group", "version", "arm", "bucket")
MEAN_SUFFIXES = ("_sum", "_sum_sq", "_n")
COVARIATE_SUFFIXES = ("_pre_sum", "_pre_sum_sq", "_cross_sum")

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
