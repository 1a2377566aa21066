"""Bayesian view of conversion metrics: Beta(1,1) priors, computed by deterministic quadrature.

Explanatory only: it never changes the verdict (SPEC §2.7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats
from scipy.integrate import trapezoid

from experimentos.model import BayesArm, BayesView, ProportionStats

_TAIL = 1e-12
_POINTS_PER_ARM = 4001


def beta_view(arms: Sequence[tuple[str, ProportionStats]], *, control: str) -> BayesView:
    """Chance to beat control, expected loss and P(best) for each arm.

    With posteriors θ_k ~ Beta(1 + conversions, 1 + non-conversions):
      P(k best)         = ∫ f_k(x) Π_{j≠k} F_j(x) dx
      P(k beats control) = ∫ f_k(x) F_control(x) dx
      expected loss of k = E[max_j θ_j] − E[θ_k],   E[max] = Σ_k ∫ x f_k(x) Π_{j≠k} F_j(x) dx
    integrated with the trapezoid rule on the union of per-arm grids spanning each posterior's
    central 1 − 2·10⁻¹² mass, so narrow, well-separated posteriors are all resolved.
    """
    posteriors = [stats.beta(1 + s.conversions, 1 + s.users - s.conversions) for _, s in arms]
    grid = _grid(posteriors)
    pdf = np.array([p.pdf(grid) for p in posteriors])
    cdf = np.array([p.cdf(grid) for p in posteriors])
    labels = [label for label, _ in arms]
    control_index = labels.index(control)

    best_integrands = []
    for k in range(len(arms)):
        others = np.prod(np.delete(cdf, k, axis=0), axis=0) if len(arms) > 1 else 1.0
        best_integrands.append(pdf[k] * others)
    prob_best = [float(trapezoid(f, grid)) for f in best_integrands]
    expected_max = float(sum(trapezoid(grid * f, grid) for f in best_integrands))

    result = []
    for k, ((label, _), post) in enumerate(zip(arms, posteriors, strict=True)):
        beats = None if k == control_index else float(trapezoid(pdf[k] * cdf[control_index], grid))
        result.append(
            BayesArm(
                arm=label,
                posterior_alpha=float(post.args[0]),
                posterior_beta=float(post.args[1]),
                chance_to_beat_control=_clip(beats),
                expected_loss=max(expected_max - float(post.mean()), 0.0),
                prob_best=_clip(prob_best[k]),
            )
        )
    return BayesView(arms=tuple(result))


def _grid(posteriors: Sequence[stats.rv_continuous]) -> np.ndarray:
    pieces = [np.array([0.0, 1.0])]
    for post in posteriors:
        lo, hi = post.ppf(_TAIL), post.isf(_TAIL)
        pieces.append(np.linspace(lo, hi, _POINTS_PER_ARM))
    return np.unique(np.concatenate(pieces))


def _clip(value: float | None) -> float | None:
    return None if value is None else min(max(value, 0.0), 1.0)
