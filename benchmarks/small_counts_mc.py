"""Type-I error and power of four two-proportion tests when an arm has few events.

    .venv/bin/python benchmarks/small_counts_mc.py [--reps 20000]

For each cell of a grid — the small arm's expected events E, the split (50/50, 80/20, 96/4)
— it draws ``reps`` experiments under H0 (both arms at 5%) and under one alternative (the
small arm, the control, at 5%; the large arm at 10%: +100%, the shape of an ad test against
a small holdout), and counts rejections at α = 0.05 of:

- Wald: the unpooled z-test (experimentos.stats.proportions' large-sample path);
- score: Miettinen & Nurminen's score test (experimentos.stats.score_test);
- Fisher: Fisher's exact test (experimentos.stats.proportions.fisher_exact_p);
- Boschloo: Boschloo's exact unconditional test, two-sided as scipy defines it (twice the
  smaller one-sided p), its nuisance-parameter supremum taken over a grid of 400 rates
  (cross-checked against scipy.stats.boschloo_exact on a few tables; scipy itself takes
  ~1–6 s per table at these sizes). Only cells with ≤ 2.5 M possible tables.

The p-value of each distinct table is computed once (few events: few distinct tables).
Monte Carlo standard error of a rate near 0.05 with 20,000 draws: 0.0015.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import special, stats

from experimentos.model import ProportionStats
from experimentos.stats.proportions import compare_proportions, fisher_exact_p
from experimentos.stats.score_test import score_comparison

ALPHA = 0.05
BASE = 0.05
EVENTS = (2, 3, 5, 8, 10, 12, 15, 20, 30)
SPLITS = ((0.5, "50/50"), (0.2, "80/20"), (0.04, "96/4"))
MAX_TABLES = 2_500_000


def wald_p(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    return compare_proportions(
        ProportionStats(n_c, x_c), ProportionStats(n_t, x_t), score_min_events=0
    ).p_value


def score_p(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    return score_comparison(ProportionStats(n_c, x_c), ProportionStats(n_t, x_t)).p_value


def fisher_p(x_c: int, n_c: int, x_t: int, n_t: int) -> float:
    return fisher_exact_p([[x_t, n_t - x_t], [x_c, n_c - x_c]])


class Boschloo:
    """Boschloo p-values of every table with arms of n_c and n_t users, computed at once:
    the one-sided statistic is Fisher's one-sided p, and the p-value of a table is the
    largest probability, over the common rate π, of a statistic at most as large."""

    def __init__(self, n_c: int, n_t: int, grid: int = 400) -> None:
        x_c = np.arange(n_c + 1)[:, None]
        x_t = np.arange(n_t + 1)[None, :]
        total = n_c + n_t
        self.less = self._sup(stats.hypergeom.cdf(x_c, total, x_c + x_t, n_c), n_c, n_t, grid)
        self.greater = self._sup(stats.hypergeom.cdf(x_t, total, x_c + x_t, n_t), n_c, n_t, grid)

    @staticmethod
    def _sup(statistic: np.ndarray, n_c: int, n_t: int, grid: int) -> np.ndarray:
        flat = statistic.ravel()
        order = np.argsort(flat, kind="stable")
        ranked = flat[order]
        # ties (to 1e-13 relative, as scipy) share the probability of the last of them
        last_tie = np.searchsorted(ranked, ranked * (1 + 1e-13), side="right") - 1
        best = np.zeros(flat.size)
        rates = special.expit(np.linspace(-12, 12, grid))
        x_c = np.arange(n_c + 1)
        x_t = np.arange(n_t + 1)
        for rate in rates:
            pmf = np.outer(stats.binom.pmf(x_c, n_c, rate), stats.binom.pmf(x_t, n_t, rate))
            cumulative = np.cumsum(pmf.ravel()[order])[last_tie]
            np.maximum(best, cumulative, out=best)
        result = np.empty(flat.size)
        result[order] = best
        return result.reshape(statistic.shape)

    def p(self, x_c: int, n_c: int, x_t: int, n_t: int) -> float:
        return float(min(1.0, 2 * min(self.less[x_c, x_t], self.greater[x_c, x_t])))


def rejection_rate(tests, n_c: int, n_t: int, rate_c: float, rate_t: float, reps: int, rng):
    x_c = rng.binomial(n_c, rate_c, reps)
    x_t = rng.binomial(n_t, rate_t, reps)
    tables, counts = np.unique(np.stack([x_c, x_t], axis=1), axis=0, return_counts=True)
    rates = {}
    for name, test in tests.items():
        if test is None:
            rates[name] = math.nan
            continue
        rejected = sum(
            int(k)
            for (a, b), k in zip(tables, counts, strict=True)
            if test(int(a), n_c, int(b), n_t) < ALPHA
        )
        rates[name] = rejected / reps
    return rates


def check_boschloo(rng) -> float:
    """Largest |ours − scipy| over a few tables."""
    worst = 0.0
    for n_c, n_t in ((20, 60), (30, 120)):
        ours = Boschloo(n_c, n_t)
        for _ in range(4):
            a, b = int(rng.integers(0, n_c // 3)), int(rng.integers(0, n_t // 3))
            theirs = stats.boschloo_exact([[a, b], [n_c - a, n_t - b]]).pvalue
            worst = max(worst, abs(ours.p(a, n_c, b, n_t) - theirs))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20240612)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"Boschloo grid vs scipy.stats.boschloo_exact: max |Δp| = {check_boschloo(rng):.1e}")
    print(f"reps = {args.reps:,} per cell and hypothesis; rates 5% (H0), 5% vs 10% (power)\n")
    names = ("wald", "score", "fisher", "boschloo")
    header = (
        "| E small arm | split | n small / large | "
        + " | ".join(f"α {n}" for n in names)
        + " | "
        + " | ".join(f"power {n}" for n in names)
        + " |"
    )
    print(header)
    print("|" + "---|" * (3 + 2 * len(names)))
    for events in EVENTS:
        for share, label in SPLITS:
            n_c = round(events / BASE)
            n_t = round(n_c * (1 - share) / share)
            started = time.perf_counter()
            boschloo = Boschloo(n_c, n_t).p if (n_c + 1) * (n_t + 1) <= MAX_TABLES else None
            tests = {"wald": wald_p, "score": score_p, "fisher": fisher_p, "boschloo": boschloo}
            null = rejection_rate(tests, n_c, n_t, BASE, BASE, args.reps, rng)
            power = rejection_rate(tests, n_c, n_t, BASE, 2 * BASE, args.reps, rng)
            cells = [null[n] for n in names] + [power[n] for n in names]
            shown = " | ".join("—" if math.isnan(v) else f"{v:.4f}" for v in cells)
            print(f"| {events} | {label} | {n_c} / {n_t} | {shown} |", flush=True)
            del started


if __name__ == "__main__":
    main()
