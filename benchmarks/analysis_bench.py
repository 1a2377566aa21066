"""Our whole analysis beside gbstats' statistics for the same metrics (goal: ratio ≤ 1).

    .venv/bin/python benchmarks/analysis_bench.py [--repeat 51] [--profile]

Two aggregated files built in memory: two arms, and four arms (control + 3 treatments), each with
the primary conversion, 5 ``guardrail_*`` counts and one continuous metric (``revenue_sum``,
``revenue_sum_sq``). Ours: ``analyze()`` from the CSV bytes (parse, health, SRM, every test,
corrections, Bayes, verdict) plus ``render_markdown()``. gbstats: for each treatment vs control,
the frequentist ``TwoSidedTTest`` and the Bayesian ``EffectBayesianABTest`` on the primary, the
5 guardrails and the continuous metric, starting from numbers already parsed (so gbstats is
spared the CSV parsing, health checks and memo that ours includes). Median of ``--repeat`` runs
after a warm-up, ``time.perf_counter``. Last, the time to compute five Lan–DeMets boundaries
by numerical integration (done at every sequential look).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

from experimentos.analysis.assemble import analyze
from experimentos.model import Options, Thresholds
from experimentos.report.memo import render_markdown
from experimentos.stats.sequential import boundaries

GUARDRAILS = [f"guardrail_{name}" for name in ("errors", "refunds", "latency", "crash", "churn")]
Arm = dict[str, float]


def make_arms(count: int) -> list[tuple[str, Arm]]:
    """Arms of 100,000 users: 10% conversion (+0.4 pp per treatment), guardrails 1–5%, revenue
    with mean 5.0 and sd 12."""
    arms = []
    for index in range(count):
        users = 100_000 + 37 * index
        mean = 5.0 + 0.05 * index
        arm: Arm = {
            "users": users,
            "conversions": round(users * (0.100 + 0.004 * index)),
            "revenue_sum": mean * users,
            "revenue_sum_sq": (12.0**2) * (users - 1) + mean**2 * users,
        }
        for k, name in enumerate(GUARDRAILS, start=1):
            arm[name] = round(users * k / 100 * (1 + 0.01 * index))
        arms.append(("control" if index == 0 else f"treatment_{index}", arm))
    return arms


def to_csv(arms: list[tuple[str, Arm]]) -> bytes:
    columns = ["users", "conversions", *GUARDRAILS, "revenue_sum", "revenue_sum_sq"]
    lines = [",".join(["variant", *columns])]
    lines += [",".join([label, *(repr(arm[c]) for c in columns)]) for label, arm in arms]
    return "\n".join(lines).encode()


def ours(data: bytes) -> Callable[[], object]:
    thresholds = Thresholds()

    def run() -> str:
        analysis = analyze(data, file_name="bench.csv", options=Options(), thresholds=thresholds)
        return render_markdown(analysis)

    return run


def gbstats(arms: list[tuple[str, Arm]]) -> Callable[[], object]:
    frequentist, bayesian = FrequentistConfig(), EffectBayesianConfig()

    def statistics_of(arm: Arm) -> list[object]:
        n = int(arm["users"])
        return [
            ProportionStatistic(n=n, sum=arm["conversions"]),
            *(ProportionStatistic(n=n, sum=arm[g]) for g in GUARDRAILS),
            SampleMeanStatistic(n=n, sum=arm["revenue_sum"], sum_squares=arm["revenue_sum_sq"]),
        ]

    def run() -> list[object]:
        control = statistics_of(arms[0][1])
        results = []
        for _, arm in arms[1:]:
            for stat_a, stat_b in zip(control, statistics_of(arm), strict=True):
                results.append(TwoSidedTTest(stat_a, stat_b, frequentist).compute_result())
                results.append(EffectBayesianABTest(stat_a, stat_b, bayesian).compute_result())
        return results

    return run


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=51)
    parser.add_argument("--profile", action="store_true", help="cProfile our 4-arm run")
    args = parser.parse_args()
    print(f"{'case':22} {'ours ms':>9} {'gbstats ms':>11} {'ours/gbstats':>13}")
    for count in (2, 4):
        arms = make_arms(count)
        data = to_csv(arms)
        mine = median_ms(ours(data), args.repeat)
        theirs = median_ms(gbstats(arms), args.repeat)
        print(f"{count} arms, 7 metrics    {mine:9.2f} {theirs:11.2f} {mine / theirs:13.2f}")
    fractions = (0.2, 0.4, 0.6, 0.8, 1.0)
    spent = median_ms(lambda: boundaries(fractions), args.repeat)
    print(f"5 Lan-DeMets boundaries (no peer) {spent:.1f} ms")
    if args.profile:
        run = ours(to_csv(make_arms(4)))
        run()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(20):
            run()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
