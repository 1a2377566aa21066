"""Hostile results files through the readers, the analysis, every renderer and the command line.

The files come from ``fuzz_cases`` (shared with ``benchmarks/fuzz_bench.py``, which runs 10,000 of
them); the invariants are those of :func:`fuzz_cases.exercise`:

- only an ExperimentError escapes the library, and its message is one clean paragraph;
- every p-value lies in [0, 1] and every finite CI contains its estimate;
- text, md, html, json, blocks and pdf neither raise nor let raw ``<script``, a Slack mention, a
  control character or a bidi override through; no md/html table cell starts with a formula;
- ``experimentos analyze`` exits 0 or 2, never with a traceback;
- rendering time grows linearly with a label's length.

Derandomised and bounded for CI (well under a minute on two cores). Shrinking is off there, so a
failure shows the first failing case as generated (its ``notes`` list the mutations); set
``FUZZ_SHRINK=1`` to have hypothesis minimise it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings

from experimentos.cli.commands import main
from tests.experimentos.fuzz_cases import (
    EXPLICIT_CASES,
    HOSTILE_TEXT,
    RENDERERS,
    Case,
    analyse,
    case,
    column_problems,
    error_problems,
    exercise,
    make_case,
    output_problems,
    pdf_problems,
    render,
    statistics_problems,
)

_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=(*_PHASES, Phase.shrink) if os.environ.get("FUZZ_SHRINK") else _PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _report(c: Case, problems: list[str]) -> str:
    return "\n".join([*problems[:8], f"case: {c.describe(short=True)}"])


# --------------------------------------------------------------------------- the generator


def test_the_cases_reach_every_branch():
    """The properties below return nothing on an ExperimentError: bound how often that happens,
    so a reader that refused everything could not pass them."""
    outcomes = {"error": 0, "blocked": 0, "healthy": 0}
    for seed in range(150):
        analysis, _ = analyse(make_case(random.Random(seed), max_long=200, max_rows=40))
        kind = "error" if analysis is None else "blocked" if analysis.health.blocked else "healthy"
        outcomes[kind] += 1
    assert outcomes["healthy"] >= 40, outcomes
    assert outcomes["blocked"] >= 20, outcomes
    assert 5 <= outcomes["error"] <= 60, outcomes


# --------------------------------------------------------------------------- the library


def _with_explicit_cases(test):
    for explicit in reversed(EXPLICIT_CASES):
        test = example(c=explicit)(test)
    return test


@settings(FUZZ, max_examples=120)
@given(c=case())
@_with_explicit_cases
def test_only_experiment_errors_escape_and_statistics_are_coherent(c):
    """Also: a file with a duplicated column never passes health."""
    analysis, message = analyse(c)  # anything but an ExperimentError propagates and fails
    if analysis is None:
        event("ExperimentError")
        problems = error_problems(message or "")
    else:
        event("blocked" if analysis.health.blocked else "analysed")
        problems = statistics_problems(analysis) + column_problems(c, analysis)
    assert not problems, _report(c, problems)


# --------------------------------------------------------------------------- each renderer


@pytest.mark.parametrize("fmt", RENDERERS)
@settings(FUZZ, max_examples=45)
@given(c=case())
@_with_explicit_cases
def test_renderer_neither_raises_nor_leaks(fmt, c):
    analysis, _ = analyse(c)
    if analysis is None:
        event("ExperimentError")
        return
    output = render(fmt, analysis)
    problems = output_problems(fmt, output, c.texts, analysis)
    assert not problems, _report(c, problems)


def _plain_file(label: str) -> Case:
    """A healthy two-arm file whose treatment, guardrail, segment and name carry ``label``."""
    rows = [
        ["variant", "users", "conversions", f"guardrail_{label}", "segment"],
        ["control", "10000", "1000", "100", "web"],
        ["control", "10000", "1010", "101", label],
        [label, "10000", "1100", "99", "web"],
        [label, "10000", "1090", "102", label],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return Case(
        buffer.getvalue().encode(), "aggregated", {"name": label}, (label, f"guardrail_{label}")
    )


@pytest.mark.parametrize("label", HOSTILE_TEXT, ids=ascii)
def test_every_hostile_string_in_every_place_and_renderer(label):
    """Each hostile string at once as an arm, a guardrail column, a segment and the name."""
    c = _plain_file(label)
    outcome = exercise(c)
    assert not outcome.problems, _report(c, [m for ms in outcome.problems.values() for m in ms])


# --------------------------------------------------------------------------- the command line


def _run_cli(args: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(args)
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, stdout.getvalue(), stderr.getvalue()


@settings(FUZZ, max_examples=30)
@given(c=case(max_long=500))
def test_cli_exits_0_or_2_with_clean_output(c):
    fmt = RENDERERS[len(c.data) % len(RENDERERS)]
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as temp:
        path = Path(temp) / "upload.csv"
        path.write_bytes(c.data)
        out = Path(temp) / "memo.pdf"
        args = c.cli_args(str(path), fmt, out=str(out) if fmt == "pdf" else None)
        code, stdout, stderr = _run_cli(args)
        pdf = out.read_bytes() if code == 0 and fmt == "pdf" else None
    event(f"exit {code}")
    assert code in (0, 2), _report(c, [f"exit {code}", stderr[-2000:]])
    if code == 2:
        problems = error_problems(stderr)
    elif fmt == "pdf":
        problems = pdf_problems(pdf or b"")
    else:
        problems = output_problems(fmt, stdout, c.texts)
    assert not problems, _report(c, problems)


# --------------------------------------------------------------------------- linear time

_LENGTHS = {"pdf": (300, 3_000)}
"""(n, 10 n) label lengths: 1,000 and 10,000 characters, less for the slower PDF."""
_LONG = ("<", "&", "_", "x", "\x1b", "=", "\u202e")


def _render_seconds(fmt: str, label: str) -> float:
    """The fastest of three renders of a healthy file carrying ``label`` (see ``_plain_file``)."""
    analysis, message = analyse(_plain_file(label))
    assert analysis is not None, message
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        render(fmt, analysis)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("char", _LONG, ids=ascii)
@pytest.mark.parametrize("fmt", RENDERERS)
def test_rendering_time_grows_linearly_with_a_label(fmt, char):
    """The time a label adds (over a one-character label) grows at most 15x when the label grows
    10x: linear work gives 10x. A plain ratio of total times would let a quadratic renderer pass
    at these lengths (its fixed and linear parts hide the quadratic one: the HTML memo took 22x
    for 10x more '<'). 50 ms of slack absorb a shared machine's noise on short runs."""
    short, long = _LENGTHS.get(fmt, (1_000, 10_000))
    overhead = _render_seconds(fmt, char)
    base = _render_seconds(fmt, char * short) - overhead
    tenfold = _render_seconds(fmt, char * long) - overhead
    assert tenfold <= 15 * max(base, 0.0) + 0.05, (
        f"{fmt}: a {short}-character label adds {base:.3f} s, a {long}-character one {tenfold:.3f} s"
    )
