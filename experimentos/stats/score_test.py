"""Two proportions with few events: the Miettinen–Nurminen score test and its intervals.

The unpooled Wald z-test is anti-conservative when an arm has few events or few non-events
(its variance is estimated from that arm's own rate, which is noisy exactly then):
benchmarks/small_counts_mc.py measures its type-I error above 0.05 below
:data:`SCORE_MIN_EVENTS` events. The score test estimates the variance at the null instead
(the rates constrained to the hypothesised difference or ratio), and its intervals are the
sets of differences and of ratios that the same test does not reject — so the p-value, the
interval of the difference and the interval of the relative lift agree on significance:
p < α exactly when both intervals exclude no change.

Miettinen & Nurminen (1985), "Comparative analysis of two rates", Statistics in Medicine 4:
score statistic with the variance factor N / (N − 1); the constrained maximum likelihood
rates for a difference from Farrington & Manning (1990), for a ratio from Miettinen &
Nurminen (1985) eq. 9. The same tests as statsmodels' ``test_proportions_2indep(method="score")``
and ``confint_proportions_2indep(method="score")``.
"""

from __future__ import annotations

import math

from scipy import special

from experimentos.model import Comparison, ProportionStats
from experimentos.stats.distributions import root

SCORE_MIN_EVENTS = 30
"""Below this many events (or non-events) in any arm, proportions are compared by the score
test. benchmarks/small_counts_mc.py (20,000 A/A draws a cell): with a 96/4 split the Wald test's
type-I error at nominal 0.05 is 0.128 at 2 expected events in the small arm, 0.066 at 10, 0.060
at 20 and 0.054 at 30; the score test stays at or below 0.050 throughout with nearly Boschloo's
power, and at 30 events and more the two tests agree closely."""

SCORE_METHOD = "score"
SCORE_CI_METHOD = "miettinen-nurminen score"

_TOL = 1e-12


def few_events(
    control: ProportionStats, treatment: ProportionStats, *, min_events: int
) -> tuple[str, int] | None:
    """("control" | "treatment", count) of the arm with the fewest events or non-events when
    it is below ``min_events``; None when every arm has enough of both."""
    counts = [
        (min(arm.conversions, arm.users - arm.conversions), name)
        for name, arm in (("control", control), ("treatment", treatment))
    ]
    fewest, name = min(counts)
    return (name, fewest) if fewest < min_events else None


def score_comparison(
    control: ProportionStats, treatment: ProportionStats, *, alpha: float = 0.05
) -> Comparison:
    """Treatment minus control by the Miettinen–Nurminen score test, with the score intervals
    of the difference and of the relative lift (ratio − 1) at the same α."""
    x_t, n_t, x_c, n_c = treatment.conversions, treatment.users, control.conversions, control.users
    p_t, p_c = x_t / n_t, x_c / n_c
    pooled = (x_t + x_c) / (n_t + n_c)  # the restricted MLE at no difference
    z = _z(p_t - p_c, pooled * (1 - pooled) * (1 / n_t + 1 / n_c), n_t + n_c)
    p_value = float(2 * special.ndtr(-abs(z))) if math.isfinite(z) else (0.0 if z else 1.0)
    z_crit = float(special.ndtri(1 - alpha / 2))
    abs_ci = _difference_interval(x_t, n_t, x_c, n_c, z_crit)
    if x_c == 0:  # a ratio to a zero rate is undefined
        rel, rel_ci = math.nan, (math.nan, math.nan)
    else:
        low, high = _ratio_interval(x_t, n_t, x_c, n_c, z_crit)
        rel, rel_ci = p_t / p_c - 1, (low - 1, high - 1)
    return Comparison(
        abs_lift=p_t - p_c,
        abs_ci=abs_ci,
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=p_value,
        statistic=z,
        method=SCORE_METHOD,
        ci_method=SCORE_CI_METHOD,
        standard_error=math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c),
    )


def score_z_diff(x_t: int, n_t: int, x_c: int, n_c: int, delta: float) -> float:
    """Score z for H0: p_t − p_c = delta (Miettinen & Nurminen 1985; the constrained MLE of
    Farrington & Manning 1990, the root of a cubic in closed form)."""
    p_t, p_c = x_t / n_t, x_c / n_c
    theta = n_c / n_t
    a = 1 + theta
    b = -(1 + theta + p_t + theta * p_c + delta * (theta + 2))
    c = delta * delta + delta * (2 * p_t + theta + 1) + p_t + theta * p_c
    d = -p_t * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a * a) + d / (2 * a)
    u = math.copysign(math.sqrt(max(b * b / (9 * a * a) - c / (3 * a), 0.0)), v)
    cos_arg = max(-1.0, min(1.0, v / u**3)) if u else 0.0
    w = (math.pi + math.acos(cos_arg)) / 3
    q_t = min(max(2 * u * math.cos(w) - b / (3 * a), 0.0), 1.0)
    q_c = min(max(q_t - delta, 0.0), 1.0)
    variance = q_t * (1 - q_t) / n_t + q_c * (1 - q_c) / n_c
    return _z(p_t - p_c - delta, variance, n_t + n_c)


def score_z_ratio(x_t: int, n_t: int, x_c: int, n_c: int, ratio: float) -> float:
    """Score z for H0: p_t / p_c = ratio (Miettinen & Nurminen 1985, eq. 9 for the
    constrained MLE: the smaller root of a quadratic)."""
    p_t, p_c = x_t / n_t, x_c / n_c
    a = (n_t + n_c) * ratio
    b = -(n_t * ratio + x_t + n_c + x_c * ratio)
    c = x_t + x_c
    q_c = (-b - math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    q_t = q_c * ratio
    variance = q_t * (1 - q_t) / n_t + ratio * ratio * q_c * (1 - q_c) / n_c
    return _z(p_t - ratio * p_c, variance, n_t + n_c)


def _z(distance: float, variance: float, n: int) -> float:
    variance *= n / (n - 1)  # Miettinen & Nurminen's small-sample factor
    if variance > 0:
        return distance / math.sqrt(variance)
    if abs(distance) < _TOL:
        return 0.0
    return math.copysign(math.inf, distance)


def _difference_interval(
    x_t: int, n_t: int, x_c: int, n_c: int, z_crit: float
) -> tuple[float, float]:
    """Score interval of p_t − p_c, solved in one canonical order of the arms so that
    swapping them negates it exactly (the root finder's last digits depend on the order)."""
    if (n_t, x_t) == (n_c, x_c):  # identical arms: symmetric about 0
        high = _invert(lambda d: score_z_diff(x_t, n_t, x_c, n_c, d), 0.0, -1.0, 1.0, z_crit)[1]
        return -high, high
    if (n_t, x_t) > (n_c, x_c):
        low, high = _difference_interval(x_c, n_c, x_t, n_t, z_crit)
        return -high, -low
    estimate = x_t / n_t - x_c / n_c
    return _invert(lambda d: score_z_diff(x_t, n_t, x_c, n_c, d), estimate, -1.0, 1.0, z_crit)


def _invert(z_of, estimate: float, low: float, high: float, z_crit: float) -> tuple[float, float]:
    """The values v in [low, high] whose |z(v)| ≤ z_crit around the estimate: z decreases in v,
    so each bound is where z(v) = ±z_crit, or the end of the range when never reached."""

    def lower_bound() -> float:
        if z_of(low + _TOL) <= z_crit:
            return low
        return root(lambda v: z_of(v) - z_crit, low + _TOL, estimate, xtol=1e-14)

    def upper_bound() -> float:
        if z_of(high - _TOL) >= -z_crit:
            return high
        return root(lambda v: z_of(v) + z_crit, estimate, high - _TOL, xtol=1e-14)

    return lower_bound(), upper_bound()


def _ratio_interval(x_t: int, n_t: int, x_c: int, n_c: int, z_crit: float) -> tuple[float, float]:
    """Score interval of p_t / p_c, searched on the log scale; 0 when the treatment has no
    events (its lower bound), found by doubling the upper end otherwise."""
    estimate = math.log((x_t / n_t) / (x_c / n_c)) if x_t else -50.0

    def z_of(log_ratio: float) -> float:
        return score_z_ratio(x_t, n_t, x_c, n_c, math.exp(log_ratio))

    low = estimate - 1.0
    while z_of(low) < z_crit and low > -50:
        low = estimate - 2 * (estimate - low)
    high = estimate + 1.0
    while z_of(high) > -z_crit:
        high = estimate + 2 * (high - estimate)
    lo = -math.inf if z_of(low) < z_crit else _root(z_of, z_crit, low, estimate)
    hi = _root(z_of, -z_crit, estimate, high)
    return math.exp(lo), math.exp(hi)


def _root(z_of, target: float, a: float, b: float) -> float:
    return root(lambda v: z_of(v) - target, a, b, xtol=1e-13, rtol=1e-14)
