"""Median render time of each chart (goal: under 300 ms each), and of the PDF memo.

    .venv/bin/python benchmarks/chart_bench.py [--repeat 9]

Times PNG bytes out from an Analysis already made (the analysis itself is not timed); the first
render of each kind is a warm-up (font cache, imports) and is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from experimentos.analysis.assemble import analyze
from experimentos.report.charts import LookPoint, forest_png, looks_png, power_curve_png
from experimentos.report.pdf import render_pdf
from experimentos.stats.power import plan_sample_size

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOAL_MS = 300.0


def median_ms(render: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds (CPU time is less disturbed by a busy machine)."""
    render()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        render()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat
    cases: list[tuple[str, Callable[[], object]]] = []
    for path in sorted(EXAMPLES.glob("*.csv")):
        analysis = analyze(path.read_bytes(), file_name=path.name)
        cases.append((f"forest  {path.stem}", lambda a=analysis: forest_png(a)))
    simple = plan_sample_size(baseline=0.10, mde=0.01, daily_users=20000)
    looks = plan_sample_size(baseline=0.10, mde=0.05, relative=True, variants=3, looks=5)
    cases.append(("power   baseline 10%, MDE 1 pp", lambda: power_curve_png(simple)))
    cases.append(("power   3 variants, 5 looks", lambda: power_curve_png(looks)))
    points = [LookPoint(k, 0.9 * k, 0.003 * k, (0.0, 0.006 * k)) for k in range(1, 4)]
    cases.append(("looks   3 of 5 planned", lambda: looks_png(points, of_looks=5)))
    launch = analyze((EXAMPLES / "launch.csv").read_bytes(), file_name="launch.csv")
    cases.append(("pdf     launch (with chart)", lambda: render_pdf(launch)))
    print(f"{'chart':34} {'wall ms':>8} {'cpu ms':>8}   goal {GOAL_MS:.0f} ms (pdf: none)")
    for name, render in cases:
        wall, cpu = median_ms(render, repeat)
        flag = "" if wall < GOAL_MS or name.startswith("pdf") else "  SLOW"
        print(f"{name:34} {wall:8.1f} {cpu:8.1f}{flag}")


if __name__ == "__main__":
    main()
