"""Group-sequential boundaries by Lan–DeMets alpha spending (SPEC §2.8).

Two-sided tests with symmetric boundaries: α/2 is spent on each side by the
Lan–DeMets spending functions (Lan & DeMets 1983, Biometrika 70:659–663):

* O'Brien–Fleming type, per side:  α₁(t) = 2 − 2·Φ(z₁₋α/₄ / √t)
* Pocock type, per side:           α₁(t) = (α/2)·ln(1 + (e − 1)·t)

so that α₁(1) = α/2 and the two sides together spend α.  These are the
one-sided designs of gsDesign (``sfLDOF``/``sfLDPocock``) and rpact
(``typeOfDesign = "asOF"/"asP"``) at α/2, mirrored.

The boundaries for *arbitrary* increasing information fractions are found by
numerical integration of the joint distribution of the z statistics, the
Armitage–McPherson–Rowe (1969) recursion, on the grid of Jennison & Turnbull
(2000), *Group Sequential Methods with Applications to Clinical Trials*,
ch. 19 (§19.2: grid of 6r − 1 points, Simpson's rule on the continuation
region).  No lookup tables.

Model (J&T §3.1): with information fractions t_k and a drift δ (the mean of
the final z statistic), the score S_k = Z_k·√t_k is Brownian motion,
S_k − S_{k−1} ~ N(δ·(t_k − t_{k−1}), t_k − t_{k−1}).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from experimentos.model import LookStatus
from experimentos.stats.distributions import norm_cdf, norm_isf, norm_pdf, norm_sf, root

Spending = Literal["obf", "pocock"]

_GRID_R = 32  # J&T §19.2 recommend r = 16..32; 6r − 1 grid points per look
_Z_MAX = 40.0  # beyond this a boundary is treated as infinite (no α to spend)
_SPENDINGS = ("obf", "pocock")
MAX_LOOKS = 100
"""Planned looks a user may ask for (options, power). Group-sequential plans have a handful
(Jennison & Turnbull use up to 10); at 100 equally spaced looks the first O'Brien–Fleming-type
boundary is |z| ≥ 22.4, and beyond about 300 it passes where α can be spent in double precision.
Each look also costs one step of the recursion."""


@dataclass(frozen=True, slots=True)
class LookBoundary:
    """The two-sided critical value at one look (reject when |z| ≥ z)."""

    look: int
    information_fraction: float
    z: float
    nominal_p: float
    alpha_spent_cumulative: float


def alpha_spent(t: float, *, alpha: float = 0.05, spending: Spending = "obf") -> float:
    """Two-sided α spent by information fraction ``t`` (both sides together).

    Lan & DeMets (1983) O'Brien–Fleming-type and Pocock-type functions,
    each applied at α/2 per side (see the module docstring).
    """
    _check_alpha(alpha)
    _check_spending(spending)
    t = min(max(t, 0.0), 1.0)
    if t == 0.0:
        return 0.0
    if spending == "obf":
        per_side = 2.0 * norm_sf(norm_isf(alpha / 4.0) / math.sqrt(t))
    else:
        per_side = alpha / 2.0 * math.log(1.0 + (math.e - 1.0) * t)
    return 2.0 * per_side


def boundaries(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.05,
    spending: Spending = "obf",
) -> tuple[LookBoundary, ...]:
    """Critical |z| at each look for increasing information fractions.

    A fraction above 1 (the target sample was overrun) is clamped to 1, so
    that look spends all the remaining α; it must then be the last look.
    At each look the boundary solves P(continue to k, |Z_k| ≥ b_k) =
    α(t_k) − α(t_{k−1}) under H0 (Armitage, McPherson & Rowe 1969;
    Jennison & Turnbull 2000, §19.2).
    """
    _check_alpha(alpha)
    _check_spending(spending)
    fractions = _clamped_fractions(information_fractions)
    previous = _Density.start()
    looks: list[LookBoundary] = []
    spent_before = 0.0
    for look, t in enumerate(fractions, start=1):
        spent = alpha_spent(t, alpha=alpha, spending=spending)
        z = _solve_boundary(previous, t, spent - spent_before)
        nominal_p = 2.0 * norm_sf(z) if math.isfinite(z) else 0.0
        looks.append(LookBoundary(look, t, z, nominal_p, spent))
        previous = previous.advance(t, z, drift=0.0)
        spent_before = spent
    return tuple(looks)


def look_status(
    *,
    z: float,
    look: int,
    information_fractions: Sequence[float],
    alpha: float = 0.05,
    spending: Spending = "obf",
) -> LookStatus:
    """Whether the observed ``z`` at ``look`` (1-based) crosses its boundary.

    ``information_fractions`` is the plan, one fraction per look (users so
    far / target, or k/K); only looks 1..``look`` are used, since Lan–DeMets
    boundaries do not depend on future looks. ``z`` may be ±∞ (one arm at 0 %, the other at
    100 %: the Wald z-test's limit).
    """
    if math.isnan(z):
        raise ValueError(f"z must be a finite number or ±∞ (got {z})")
    of_looks = len(information_fractions)
    if not 1 <= look <= of_looks:
        raise ValueError(f"look must be between 1 and {of_looks} (got {look})")
    current = boundaries(information_fractions[:look], alpha=alpha, spending=spending)[-1]
    return LookStatus(
        look=look,
        of_looks=of_looks,
        information_fraction=current.information_fraction,
        boundary_z=current.z,
        nominal_p_threshold=current.nominal_p,
        z=z,
        # z = ±∞ (0% against 100%) crosses any finite boundary; an infinite boundary (no α left
        # to spend at this look) is crossed by nothing
        crossed=math.isfinite(current.z) and abs(z) >= current.z,
        spending=spending,
        alpha=alpha,
    )


def sample_size_inflation(
    *, looks: int, alpha: float = 0.05, power: float = 0.8, spending: Spending = "obf"
) -> float:
    """Maximum group-sequential sample size ÷ fixed-design sample size.

    Equally spaced looks. The drift δ giving P(cross the upper boundary at
    some look) = ``power`` — the trial also stops at the symmetric lower
    boundary — is found through the same recursion; the ratio is
    (δ / (z₁₋α/₂ + z₁₋β))² (Jennison & Turnbull 2000, §2.3 and §7.2).
    """
    if isinstance(looks, bool) or not isinstance(looks, int) or not 1 <= looks <= MAX_LOOKS:
        raise ValueError(f"looks must be a whole number from 1 to {MAX_LOOKS} (got {looks})")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1 (got {power})")
    fractions = [k / looks for k in range(1, looks + 1)]
    bounds = [b.z for b in boundaries(fractions, alpha=alpha, spending=spending)]
    fixed_drift = norm_isf(alpha / 2.0) + norm_isf(1.0 - power)

    def shortfall(drift: float) -> float:
        return _upper_crossing(fractions, bounds, drift) - power

    drift = root(shortfall, fixed_drift * 0.5, fixed_drift * 2.0, xtol=1e-10)
    return float((drift / fixed_drift) ** 2)


# --- the recursion -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Density:
    """Sub-density of Z at a look on a quadrature grid, mass = weight × density.

    ``t`` is the information fraction of that look; the start (t = 0) is a
    point mass at S = 0, so the first look needs no special case.
    """

    t: float
    points: np.ndarray
    mass: np.ndarray

    @staticmethod
    def start() -> _Density:
        return _Density(0.0, np.zeros(1), np.ones(1))

    def exit_probability(self, t: float, b: float, drift: float) -> tuple[float, float]:
        """P(continue so far, Z_t ≥ b) and P(continue so far, Z_t ≤ −b)."""
        if not math.isfinite(b):
            return 0.0, 0.0
        mean, sd = self._transition(t, drift)
        upper = norm_sf((b * math.sqrt(t) - mean) / sd)
        lower = norm_cdf((-b * math.sqrt(t) - mean) / sd)
        return float(self.mass @ upper), float(self.mass @ lower)

    def advance(self, t: float, b: float, drift: float) -> _Density:
        """Sub-density at fraction ``t`` on the continuation region (−b, b)."""
        points, weights = _grid(drift * math.sqrt(t), b)
        mean, sd = self._transition(t, drift)
        # density of Z_t = S_t/√t given S_prev: √t/sd · φ((z√t − mean)/sd)
        kernel = norm_pdf((points[:, None] * math.sqrt(t) - mean[None, :]) / sd)
        density = kernel @ self.mass * (math.sqrt(t) / sd)
        return _Density(t, points, weights * density)

    def _transition(self, t: float, drift: float) -> tuple[np.ndarray, float]:
        step = t - self.t
        mean = self.points * math.sqrt(self.t) + drift * step
        return mean, math.sqrt(step)


def _grid(centre: float, b: float, r: int = _GRID_R) -> tuple[np.ndarray, np.ndarray]:
    """Jennison & Turnbull (2000) §19.2 grid on (−b, b) with Simpson weights.

    6r − 1 points around the mean, dense within ±3 and spread
    logarithmically out to ±(3 + 4 ln r); trimmed to the continuation region
    with its ends added; midpoints added, then Simpson's rule.
    """
    i = np.arange(1, 6 * r)
    x = np.where(
        i < r,
        -3.0 - 4.0 * np.log(r / np.maximum(i, 1)),
        np.where(
            i <= 5 * r,
            -3.0 + 3.0 * (i - r) / (2.0 * r),
            3.0 + 4.0 * np.log(r / np.maximum(6 * r - i, 1)),
        ),
    )
    x = centre + x
    inside = x[(x > -b) & (x < b)]
    ends = [e for e in (-b, b) if x[0] < e < x[-1]]
    nodes = np.unique(np.concatenate([inside, ends]))
    mids = (nodes[:-1] + nodes[1:]) / 2.0
    points = np.empty(2 * nodes.size - 1)
    points[0::2], points[1::2] = nodes, mids
    widths = np.diff(nodes)
    weights = np.zeros_like(points)
    weights[0:-1:2] += widths / 6.0
    weights[1::2] += 4.0 * widths / 6.0
    weights[2::2] += widths / 6.0
    return points, weights


def _solve_boundary(previous: _Density, t: float, increment: float) -> float:
    """The b with P(continue, |Z_t| ≥ b) = increment under H0 (∞ if nothing to spend)."""

    def excess(b: float) -> float:
        return sum(previous.exit_probability(t, b, 0.0)) - increment

    if increment <= 0.0 or excess(_Z_MAX) >= 0.0:
        return math.inf
    return root(excess, 0.0, _Z_MAX, xtol=1e-12, rtol=1e-12)


def _upper_crossing(fractions: Sequence[float], bounds: Sequence[float], drift: float) -> float:
    """P(cross the upper boundary at some look) under ``drift``; lower crossings stop."""
    density = _Density.start()
    total = 0.0
    for t, b in zip(fractions, bounds, strict=True):
        total += density.exit_probability(t, b, drift)[0]
        density = density.advance(t, b, drift)
    return total


def _clamped_fractions(information_fractions: Sequence[float]) -> list[float]:
    fractions = [float(t) for t in information_fractions]
    if not fractions:
        raise ValueError("at least one information fraction is needed")
    for look, t in enumerate(fractions, start=1):
        if not math.isfinite(t) or t <= 0.0:
            raise ValueError(f"information fraction must be above 0 (got {t} at look {look})")
    if any(b <= a for a, b in itertools.pairwise(fractions)):
        raise ValueError(f"information fractions must increase look after look (got {fractions})")
    if any(t >= 1.0 for t in fractions[:-1]):
        raise ValueError(
            "information fraction reached 1 before the last look: that look was the final one"
        )
    return [min(t, 1.0) for t in fractions]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (got {alpha})")


def _check_spending(spending: str) -> None:
    if spending not in _SPENDINGS:
        raise ValueError(f"spending must be 'obf' or 'pocock' (got {spending!r})")
