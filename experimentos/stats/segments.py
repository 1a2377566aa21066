"""Across segments: heterogeneity of the lift and Simpson's paradox."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experimentos.stats.distributions import chi2_sf


def cochran_q(
    lifts: Sequence[float], standard_errors: Sequence[float]
) -> tuple[float, int, float, float]:
    """Cochran's Q test of equal effects across segments: (Q, df, p, I²).

    Inverse-variance weights w = 1/se²; Q = Σ w (d − d̄_w)², χ² with k − 1 df under
    homogeneity; I² = max(0, (Q − df) / Q) (Higgins & Thompson 2002).
    """
    d = np.asarray(lifts, dtype=float)
    se = np.asarray(standard_errors, dtype=float)
    usable = np.isfinite(d) & np.isfinite(se) & (se > 0)
    d, se = d[usable], se[usable]
    k = len(d)
    if k < 2:
        return 0.0, 0, 1.0, 0.0
    w = 1 / se**2
    mean = float((w * d).sum() / w.sum())
    q = float((w * (d - mean) ** 2).sum())
    dof = k - 1
    i2 = max(0.0, (q - dof) / q) if q > 0 else 0.0
    return q, dof, float(chi2_sf(q, dof)), i2


def simpsons_paradox(pooled_lift: float, segment_lifts: Sequence[float]) -> bool:
    """The pooled lift's sign disagrees with every segment's (and segments agree with each other)."""
    signs = {np.sign(x) for x in segment_lifts}
    if len(segment_lifts) < 2 or len(signs) != 1 or 0 in signs or pooled_lift == 0:
        return False
    return bool(signs.pop() != np.sign(pooled_lift))
