"""Render time of every output format for files with one huge cell of a markup character.

    .venv/bin/python benchmarks/render_hostile.py [--sizes 80000,1000000] [--timeout 60]

For each character (``<``, ``&``, ``_``), each size and each place (the treatment's variant
label, a guardrail column's name) the file is analysed once, then each format (text, md, html,
json, blocks, pdf) is rendered in a child process that is stopped after ``--timeout`` seconds.
Prints wall-clock seconds per render; a renderer linear in its input stays well under a second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Callable

from experimentos.analysis.assemble import analyze
from experimentos.errors import ExperimentError
from experimentos.model import Analysis

FORMATS = ("text", "md", "html", "json", "blocks", "pdf")


def hostile_csv(char: str, size: int, place: str) -> bytes:
    cell = char * size
    if place == "label":
        return (
            "variant,users,conversions,guardrail_errors\n"
            "control,20000,2000,200\n"
            f"{cell},20000,2200,210\n"
        ).encode()
    return (
        f"variant,users,conversions,guardrail_{cell}\ncontrol,20000,2000,200\ntreatment,20000,2200,210\n"
    ).encode()


def renderer(name: str) -> Callable[[Analysis], object]:
    if name == "text":
        from experimentos.report.text import render

        return render
    if name == "md":
        from experimentos.report.memo import render_markdown

        return render_markdown
    if name == "html":
        from experimentos.report.memo import render_html

        return render_html
    if name == "json":
        return lambda a: json.dumps(a.to_dict(), ensure_ascii=False)
    if name == "blocks":
        from bot.render.cli_format import card_json

        return card_json
    from experimentos.report.pdf import render_pdf

    return lambda a: render_pdf(a, with_chart=False)


def _timed(name: str, analysis: Analysis, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    render = renderer(name)
    start = time.perf_counter()
    try:
        output = render(analysis)
    except Exception as error:  # reported, not raised: the table goes on
        queue.put(f"{type(error).__name__}")
        return
    queue.put((time.perf_counter() - start, len(output)))  # type: ignore[arg-type]


def measure(name: str, analysis: Analysis, timeout: float) -> str:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_timed, args=(name, analysis, queue))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join()
        return f"> {timeout:.0f} s"
    if queue.empty():
        return "died"
    result = queue.get()
    if isinstance(result, str):
        return result
    seconds, length = result
    return f"{seconds:.2f} s ({length / 1024:.0f} KB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="80000,1000000")
    parser.add_argument("--chars", default="<&_")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    for place in ("label", "column"):
        for char in args.chars:
            for size in sizes:
                try:
                    analysis = analyze(hostile_csv(char, size, place), file_name="hostile.csv")
                except ExperimentError as error:
                    print(f"{place:6} {char!r} x {size:>9,}  refused: {error.message}", flush=True)
                    continue
                for name in formats:
                    result = measure(name, analysis, args.timeout)
                    print(f"{place:6} {char!r} x {size:>9,}  {name:6} {result}", flush=True)


if __name__ == "__main__":
    main()
