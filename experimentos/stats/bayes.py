"""Bayesian view of conversion metrics: Beta(1,1) priors, computed by deterministic quadrature.

Explanatory only: it never changes the verdict (SPEC §2.7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from experimentos.model import BayesArm, BayesView, ProportionStats
from experimentos.stats.distributions import beta_pdf, cumulative_trapezoid, trapezoid

_TAIL = 1e-12
_POINTS_PER_ARM = 4001
_MAX_POINTS = 40_000


def beta_view(arms: Sequence[tuple[str, ProportionStats]], *, control: str) -> BayesView:
    """Chance to beat control, expected loss and P(best) for each arm.

    With posteriors θ_k ~ Beta(1 + conversions, 1 + non-conversions):
      P(k best)         = ∫ f_k(x) Π_{j≠k} F_j(x) dx
      P(k beats control) = ∫ f_k(x) F_control(x) dx
      expected loss of k = E[max_j θ_j] − E[θ_k],   E[max] = Σ_k ∫ x f_k(x) Π_{j≠k} F_j(x) dx
    integrated with the trapezoid rule on the union of per-arm grids spanning each posterior's
    central 1 − 2·10⁻¹² mass, so narrow, well-separated posteriors are all resolved; F_k is the
    running trapezoid integral of f_k on the same grid.
    """
    # Floats: counts beyond int64 would reach scipy as Python objects. Parameters, not frozen
    # distributions: freezing one costs 0.3 ms.
    alpha = np.array([1.0 + s.conversions for _, s in arms])
    beta = np.array([1.0 + (s.users - s.conversions) for _, s in arms])
    grid = _grid(alpha, beta)
    pdf = beta_pdf(grid, alpha[:, None], beta[:, None])
    cdf = _cumulative(pdf, grid)
    labels = [label for label, _ in arms]
    control_index = labels.index(control)

    best_integrands = pdf * _product_of_others(cdf)
    prob_best = [float(trapezoid(f, grid)) for f in best_integrands]
    expected_max = float(sum(trapezoid(grid * f, grid) for f in best_integrands))

    result = []
    for k, (label, _) in enumerate(arms):
        beats = None if k == control_index else float(trapezoid(pdf[k] * cdf[control_index], grid))
        result.append(
            BayesArm(
                arm=label,
                posterior_alpha=float(alpha[k]),
                posterior_beta=float(beta[k]),
                chance_to_beat_control=_clip(beats),
                expected_loss=max(expected_max - float(alpha[k] / (alpha[k] + beta[k])), 0.0),
                prob_best=_clip(prob_best[k]),
            )
        )
    return BayesView(arms=tuple(result))


def _cumulative(pdf: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """F_k on the grid by the cumulative trapezoid rule, normalised to end at 1: the same rule as
    the integrals above (P(beat control) within 2·10⁻⁶ of the exact closed form), and 0.1 ms
    where the regularised incomplete beta function takes 7 ms for two arms at 100,000 users."""
    cdf = cumulative_trapezoid(pdf, grid)
    total = cdf[:, -1:]
    return np.divide(cdf, total, out=np.zeros_like(cdf), where=total > 0)


def _product_of_others(cdf: np.ndarray) -> np.ndarray:
    """Row k: Π_{j≠k} F_j(x), by prefix and suffix products (no division, O(arms × points))."""
    ones = np.ones((1, cdf.shape[1]))
    prefix = np.cumprod(np.vstack([ones, cdf[:-1]]), axis=0)
    suffix = np.cumprod(np.vstack([ones, cdf[:0:-1]]), axis=0)[::-1]
    return prefix * suffix


def _grid(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Union of per-arm grids; fewer points per arm when there are many arms (≥ 101 each)."""
    per_arm = max(101, min(_POINTS_PER_ARM, _MAX_POINTS // len(alpha)))
    lows = special.betaincinv(alpha, beta, _TAIL)  # the Beta quantiles stats.beta computes
    highs = special.betainccinv(alpha, beta, _TAIL)
    pieces = [np.array([0.0, 1.0])]
    pieces += [np.linspace(lo, hi, per_arm) for lo, hi in zip(lows, highs, strict=True)]
    return np.unique(np.concatenate(pieces))


def _clip(value: float | None) -> float | None:
    return None if value is None else min(max(value, 0.0), 1.0)
