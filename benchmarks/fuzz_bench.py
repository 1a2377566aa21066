"""Long fuzz run: generated hostile files through the library, every renderer and the CLI.

    .venv/bin/python benchmarks/fuzz_bench.py [--cases 10000] [--cli 300] [--timeout 10]
                                              [--seed 0] [--workers 2] [--save DIR]

Case ``i`` is ``fuzz_cases.make_case(random.Random(f"{seed}-{i}"))``: a results file (aggregated
or user-level) with hostile labels and column names, mutated numbers, dropped / duplicated /
renamed columns, odd encodings and delimiters, and options. Each case runs in a worker process
under a hang limit (``--timeout`` seconds; a worker past it is killed and replaced): the analysis,
then text, md, html, json, blocks and pdf, with the invariants of ``fuzz_cases.exercise``.
``--cli`` of the cases, spread evenly, also run ``python -m experimentos.cli.commands analyze`` in a
subprocess (a format chosen per case) under the same limit: exit 0 or 2, no traceback, clean
output.

Printed: tried / crashed / hung / leaked (and wrong statistics), the distinct messages of each
kind, and timings. The first ``--keep`` cases of each kind, and the first case of each distinct
message, are saved under ``--save`` (the CSV, and a JSON with the options, the problems and the
command line) for reproduction.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.experimentos.fuzz_cases import (  # noqa: E402
    RENDERERS,
    Case,
    error_problems,
    exercise,
    make_case,
    output_problems,
    pdf_problems,
)

KINDS = ("crash", "hang", "leak", "statistics")


def _case(seed: int, index: int) -> Case:
    return make_case(random.Random(f"{seed}-{index}"))


def _run_cli(case: Case, fmt: str, timeout: float) -> dict[str, list[str]]:
    with tempfile.TemporaryDirectory(prefix="fuzz-bench-") as temp:
        path = Path(temp) / "upload.csv"
        path.write_bytes(case.data)
        out = Path(temp) / "memo.pdf"
        args = case.cli_args(str(path), fmt, out=str(out) if fmt == "pdf" else None)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "experimentos.cli.commands", *args],
                capture_output=True,
                timeout=timeout,
                cwd=temp,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        except subprocess.TimeoutExpired:
            return {"hang": [f"cli --format {fmt}: over {timeout:g} s"]}
        stdout = done.stdout.decode("utf-8", "replace")
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode not in (0, 2) or "Traceback" in stderr:
            last = stderr.strip().splitlines()[-1:] or [""]
            return {"crash": [f"cli --format {fmt}: exit {done.returncode}: {last[0][:300]}"]}
        if done.returncode == 2:
            problems = error_problems(stderr)
        elif fmt == "pdf":
            problems = pdf_problems(out.read_bytes()) if out.exists() else ["pdf: no file"]
        else:
            problems = output_problems(fmt, stdout, case.texts)
        return {"leak": [f"cli {p}" for p in problems]} if problems else {}


def _worker(connection: Connection, timeout: float) -> None:
    """Runs cases until told to stop; the parent kills it if one takes too long."""
    import warnings

    warnings.simplefilter("ignore")
    import experimentos.analysis.assemble  # noqa: F401  (imported before the clock starts)

    while True:
        task = connection.recv()
        if task is None:
            return
        index, case, cli_format = task
        start = time.perf_counter()
        outcome = exercise(case)
        problems = {k: list(v) for k, v in outcome.problems.items()}
        library_seconds = time.perf_counter() - start
        if cli_format is not None:
            for kind, messages in _run_cli(case, cli_format, timeout).items():
                problems.setdefault(kind, []).extend(messages)
        connection.send((index, outcome.analysed, problems, library_seconds))


class _Slot:
    def __init__(self, context: Any, timeout: float) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, timeout), daemon=True)
        self.process.start()
        child.close()
        self.task: tuple[int, Case, str | None] | None = None
        self.started = 0.0

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()


def _signature(message: str) -> str:
    """A message with its data taken out, to count distinct failures."""
    message = re.sub(r"0x[0-9a-fA-F]+", "0x…", message.split("\n")[0])
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d[\d.,e+-]*", "N", message)[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--cli", type=int, default=300, help="cases also run through the CLI")
    parser.add_argument("--timeout", type=float, default=10.0, help="hang limit per case, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=int, default=5, help="examples saved per kind")
    parser.add_argument(
        "--save", type=Path, default=Path(tempfile.gettempdir()) / "experimentos-fuzz"
    )
    args = parser.parse_args()

    every = max(args.cases // args.cli, 1) if args.cli else 0
    pending = collections.deque(range(args.cases))
    context = multiprocessing.get_context("spawn")
    slots = [_Slot(context, args.timeout) for _ in range(max(args.workers, 1))]
    counts: collections.Counter[str] = collections.Counter()
    distinct: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in KINDS}
    kept: collections.Counter[str] = collections.Counter()
    seconds: list[float] = []
    cli_runs = 0
    args.save.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def record(index: int, case: Case, cli: str | None, problems: dict[str, list[str]]) -> None:
        for kind in KINDS:
            if not problems.get(kind):
                continue
            counts[kind] += 1
            new = False
            for message in dict.fromkeys(problems[kind]):
                new |= _signature(message) not in distinct[kind]
                distinct[kind][_signature(message)] += 1
            # The first few of each kind, and the first of each distinct message.
            if kept[kind] < args.keep or (new and kept["distinct"] < 100):
                kept[kind] += 1
                kept["distinct"] += new
                stem = args.save / f"{kind}-{index:05d}"
                stem.with_suffix(".csv").write_bytes(case.data)
                report = {
                    "seed": f"{args.seed}-{index}",
                    "problems": problems,
                    "cli": ["experimentos", *case.cli_args(f"{stem}.csv", cli or "text")],
                    **case.describe(),
                }
                stem.with_suffix(".json").write_text(
                    json.dumps(report, indent=2, ensure_ascii=True), encoding="utf-8"
                )

    done = 0
    while done < args.cases:
        for slot in slots:
            if slot.task is None and pending:
                index = pending.popleft()
                cli = (
                    RENDERERS[(index // every) % len(RENDERERS)]
                    if every and index % every == 0 and index // every < args.cli
                    else None
                )
                cli_runs += cli is not None
                slot.task = (index, _case(args.seed, index), cli)
                slot.started = time.perf_counter()
                slot.connection.send(slot.task)
        busy = [s for s in slots if s.task is not None]
        ready = wait([s.connection for s in busy], timeout=0.2)
        now = time.perf_counter()
        for i, slot in enumerate(slots):
            if slot.task is None:
                continue
            index, case, cli = slot.task
            limit = args.timeout * (2 if cli else 1) + (5 if cli else 0)
            if slot.connection in ready:
                try:
                    _, analysed, problems, library_seconds = slot.connection.recv()
                except EOFError:  # the worker died (a segfault, the OOM killer)
                    analysed, problems, library_seconds = False, {"crash": ["worker died"]}, 0.0
                    slot.kill()
                    slots[i] = slot = _Slot(context, args.timeout)
                counts["analysed"] += analysed
                seconds.append(library_seconds)
                if library_seconds > args.timeout:
                    problems.setdefault("hang", []).append(
                        f"library and renderers: {library_seconds:.1f} s"
                    )
            elif now - slot.started > limit:
                seconds.append(now - slot.started)
                slot.kill()
                slots[i] = slot = _Slot(context, args.timeout)
                problems = {
                    "hang": [f"over {limit:g} s (library, renderers{', cli' if cli else ''})"]
                }
            else:
                continue
            record(index, case, cli, problems)
            slot.task = None
            done += 1
            if done % 500 == 0:
                print(f"… {done} cases, {time.perf_counter() - started:.0f} s", flush=True)
    for slot in slots:
        slot.connection.send(None)
        slot.process.join(timeout=5)

    elapsed = time.perf_counter() - started
    print(
        f"tried {args.cases} ({counts['analysed']} analysed, {cli_runs} also through the CLI) / "
        f"crashed {counts['crash']} / hung {counts['hang']} / leaked {counts['leak']} / "
        f"wrong statistics {counts['statistics']}"
    )
    print(
        f"{elapsed:.0f} s with {len(slots)} workers; per case (library and six renderers): "
        f"median {statistics.median(seconds):.3f} s, max {max(seconds):.2f} s"
    )
    for kind in KINDS:
        for message, n in distinct[kind].most_common(15):
            print(f"  {kind:10} {n:5}  {message}")
    print(f"examples: {args.save}")


if __name__ == "__main__":
    main()
