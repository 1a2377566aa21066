"""Peeking Monte Carlo: type-I error of repeated looks, fixed-horizon z-test vs always-valid.

A/A experiments on a binary metric (both arms convert at the same rate), each looked at after
every equal slice of traffic up to the planned users per arm. An experiment is a false positive
when *any* look is significant. The naive fixed-horizon Wald z-test's rate grows with the number
of looks; the asymptotic confidence sequence (experimentos.stats.always_valid) must stay at or
below α.

Run: .venv/bin/python benchmarks/peeking_mc.py [--experiments 20000] [--looks 20] ...
Not part of CI (well under a second for 20,000 experiments).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import special

from experimentos.stats.always_valid import DEFAULT_PLANNED_USERS, width_factor


def simulate(
    *,
    experiments: int,
    looks: int,
    users_per_arm: int,
    rate: float,
    alpha: float,
    seed: int,
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    per_look = users_per_arm // looks
    n = per_look * np.arange(1, looks + 1, dtype=float)  # users per arm at each look
    # Conversions per slice, then cumulative sums: the arm's counts at every look.
    conv_c = rng.binomial(per_look, rate, size=(experiments, looks)).cumsum(axis=1)
    conv_t = rng.binomial(per_look, rate, size=(experiments, looks)).cumsum(axis=1)
    p_c, p_t = conv_c / n, conv_t / n
    se = np.sqrt(p_c * (1 - p_c) / n + p_t * (1 - p_t) / n)
    diff = np.abs(p_t - p_c)
    z_crit = float(special.ndtri(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        naive_any = (diff > z_crit * se).any(axis=1)
        naive_last = diff[:, -1] > z_crit * se[:, -1]
    rates = {"naive z-test, any of the looks": naive_any.mean()}
    rates["naive z-test, last look only"] = naive_last.mean()
    total = 2 * n  # the sequence's N is users in both arms
    for planned, label in (
        (2 * users_per_arm, f"always-valid, tuned at the plan ({2 * users_per_arm:,} users)"),
        (DEFAULT_PLANNED_USERS, f"always-valid, default tuning ({DEFAULT_PLANNED_USERS:,} users)"),
    ):
        factor = np.array([width_factor(u, alpha=alpha, planned_users=planned) for u in total])
        rates[label] = (diff > factor * se).any(axis=1).mean()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=20_000)
    parser.add_argument("--looks", type=int, default=20)
    parser.add_argument("--users-per-arm", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=20_231_014)
    args = parser.parse_args()
    started = time.perf_counter()
    rates = simulate(
        experiments=args.experiments,
        looks=args.looks,
        users_per_arm=args.users_per_arm,
        rate=args.rate,
        alpha=args.alpha,
        seed=args.seed,
    )
    elapsed = time.perf_counter() - started
    print(
        f"{args.experiments:,} A/A experiments, conversion {args.rate:.0%} in both arms, "
        f"{args.looks} equally spaced looks up to {args.users_per_arm:,} users per arm, "
        f"alpha {args.alpha} (seed {args.seed}, {elapsed:.1f} s)"
    )
    for label, rate in rates.items():
        mc_se = math.sqrt(rate * (1 - rate) / args.experiments)
        print(f"  {label:<52} type-I error {rate:.4f}  (MC s.e. {mc_se:.4f})")


if __name__ == "__main__":
    main()
