"""Multiple-comparison corrections of p-values (adjusted p-values, monotone, capped at 1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experimentos.model import Correction


def adjust_p_values(p_values: Sequence[float], *, method: Correction = "holm") -> tuple[float, ...]:
    """Adjusted p-values: Holm (1979) step-down, Bonferroni, or Benjamini–Hochberg (1995)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m <= 1:
        return tuple(float(x) for x in p)
    if method == "bonferroni":
        adjusted = np.minimum(p * m, 1.0)
    elif method == "holm":
        order = np.argsort(p)
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
    elif method == "bh":
        order = np.argsort(p)[::-1]
        ranks = m - np.arange(m)  # rank of each p in ascending order, walking from the largest
        stepped = np.minimum.accumulate(p[order] * (m / ranks))  # factor 1.0 exactly at rank m
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
    else:
        raise ValueError(f"unknown correction {method!r}: use holm, bonferroni or bh")
    return tuple(float(x) for x in adjusted)
