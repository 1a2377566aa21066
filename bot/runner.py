"""Runs the CPU-bound analysis off the event loop, in worker processes (default) or threads.

Processes keep the event loop's GIL free, so acks stay fast while large files are analysed
(see benchmarks/ack_latency.py); a worker that dies is replaced and the user told. A worker gets
the path of the downloaded file, never its bytes, and reads it itself.
This module imports nothing heavy at top level: spawned workers import it to find their function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from experimentos.model import Analysis, Options

logger = logging.getLogger(__name__)

SMALL_FILE_BYTES = 1024 * 1024
"""Files up to this size use the small-file lane."""
WARM_UP_CSV = b"variant,users,conversions\ncontrol,1000,100\ntreatment,1000,110\n"
ALT_TEXT_CHARS = 1000
"""Slack's limit for an image's alt text."""


class AnalysisFailed(Exception):
    """The analysis could not run; ``message`` is plain text for the user (escape to show)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def analyse_in_worker(
    path: Path, file_name: str, options: Options, target_users: int | None = None
) -> tuple[str, Any]:
    """Worker entry point: ("ok", Analysis) or ("error", user-facing message).

    The worker reads the file at ``path`` itself: only the path crosses the process boundary.
    With ``target_users`` (a charter's target sample size) and a planned look, the use-case adds
    this look's information fraction. ExperimentError is turned into a plain tuple so no exception
    needs pickling.
    """
    from experimentos import usecases
    from experimentos.errors import ExperimentError

    try:
        analysis = usecases.analyse_file(
            path, file_name=file_name, options=options, target_users=target_users
        )
    except ExperimentError as error:
        return "error", error.message
    return "ok", analysis


def query_in_worker(
    url: str, query: str, source_name: str, options: Options, target_users: int | None = None
) -> tuple[str, Any]:
    """Worker entry point for a saved warehouse source: ("ok", Analysis) or ("error", one line
    naming ``source_name``, never the URL's password). The database aggregates the rows."""
    from experimentos import usecases
    from experimentos.errors import ExperimentError

    try:
        analysis = usecases.analyse_query(
            url, query, options=options, source_name=source_name, target_users=target_users
        )
    except ExperimentError as error:
        return "error", error.message
    return "ok", analysis


def platform_in_worker(
    ref: str,
    environ: dict[str, str],
    options: Options,
    target_users: int | None = None,
    fetch: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """Worker entry point for a platform experiment (``growthbook:EXP_KEY``): ("ok", Analysis) or
    ("error", one line naming the platform, never the key). ``environ`` holds only that
    platform's key and URL variables; ``fetch``: phase, dimension, snapshot."""
    from experimentos import usecases
    from experimentos.errors import ExperimentError

    try:
        analysis = usecases.analyse_platform(
            ref, options=options, environ=environ, target_users=target_users, **(fetch or {})
        )
    except ExperimentError as error:
        return "error", error.message
    return "ok", analysis


def forest_in_worker(analysis: Analysis) -> tuple[bytes, str]:
    """The forest plot (PNG) and its alt text; matplotlib is imported in the worker only."""
    from experimentos.report.charts import forest_alt_text, forest_png

    return forest_png(analysis), forest_alt_text(analysis, limit=ALT_TEXT_CHARS)


def looks_in_worker(
    points: list[tuple[int, float, float, tuple[float, float], float | None]],
    of_looks: int | None,
    spending: str,
    always_valid: bool = False,
) -> bytes:
    """The looks chart from plain (look, z, lift, CI, information) tuples (``always_valid``: the
    intervals are confidence sequences, valid at every look)."""
    from experimentos.report.charts import LookPoint, looks_png

    return looks_png(
        [LookPoint(*p) for p in points],
        of_looks=of_looks,
        spending=spending,  # type: ignore[arg-type]
        always_valid=always_valid,
    )


def lift_by_day_in_worker(analysis: Analysis) -> tuple[bytes, str]:
    """The lift-by-exposure-day chart (PNG) and its alt text of an analysis with a novelty check."""
    from experimentos.report.charts import lift_by_day_alt_text, lift_by_day_png

    novelty = analysis.novelty
    if novelty is None:
        raise ValueError("the analysis has no lift by exposure day (no date column)")
    return lift_by_day_png(novelty), lift_by_day_alt_text(novelty, limit=ALT_TEXT_CHARS)


def power_curve_in_worker(plan: Any) -> bytes:
    from experimentos.report.charts import power_curve_png

    return power_curve_png(plan)


def warm_up_worker() -> bool:
    """Import the core and run a tiny analysis so the first real upload pays no import cost."""
    import tempfile

    from experimentos.model import Options

    with tempfile.TemporaryDirectory(prefix="experimentos-warm-up-") as directory:
        path = Path(directory) / "warm-up.csv"
        path.write_bytes(WARM_UP_CSV)
        analyse_in_worker(path, "warm-up.csv", Options())
    return True


WORKER_NICENESS = 10
"""Analysis workers yield the CPU to the event loop's process, so acks stay fast under load."""


def lower_priority() -> None:
    """Worker initializer: run at a lower CPU priority than the bot (best effort, POSIX)."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICENESS)


def make_executor(kind: Literal["process", "thread"], workers: int) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=lower_priority,
    )


@dataclass(slots=True)
class Lane:
    """A pool of workers for one size class of files."""

    name: str
    workers: int
    executor: Executor | None
    owned: bool


class AnalysisRunner:
    """Two lanes: small files get a worker of their own, so a two-arm card is not stuck behind
    large user-level files. An injected executor (tests) serves both lanes and is not shut down."""

    def __init__(
        self,
        *,
        kind: Literal["process", "thread"] = "process",
        workers: int = 2,
        timeout_s: float = 120.0,
        small_file_bytes: int = SMALL_FILE_BYTES,
        executor: Executor | None = None,
    ) -> None:
        self._kind = kind
        self._timeout_s = timeout_s
        self._small_file_bytes = small_file_bytes
        owned = executor is None
        self._lanes = (Lane("small", 1, executor, owned), Lane("large", workers, executor, owned))
        self._warm_up: asyncio.Task[None] | None = None
        self.ready = False

    async def start(self) -> None:
        for lane in self._lanes:
            if lane.executor is None:
                lane.executor = make_executor(self._kind, lane.workers)
        self._warm_up = asyncio.create_task(self._warm())

    async def _warm(self) -> None:
        loop = asyncio.get_running_loop()
        calls = [
            loop.run_in_executor(lane.executor, warm_up_worker)
            for lane in self._lanes
            for _ in range(lane.workers)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            logger.warning("analysis warm-up failed: %r", failures[0])
        else:
            logger.info(
                "analysis workers ready (%s: %d large + 1 small)",
                self._kind,
                self._lanes[1].workers,
            )
        self.ready = True

    async def analyse(
        self,
        path: Path,
        *,
        size_bytes: int,
        file_name: str,
        options: Options,
        target_users: int | None = None,
    ) -> Analysis:
        """Analyse the file at ``path`` (``size_bytes`` on disk: it picks the lane) off the loop;
        the worker reads the file, the caller removes it. Raise AnalysisFailed (user-facing) when
        the core refuses the file."""
        lane = self._lanes[0] if size_bytes <= self._small_file_bytes else self._lanes[1]
        return await self._run(lane, analyse_in_worker, path, file_name, options, target_users)

    async def analyse_query(
        self,
        url: str,
        query: str,
        *,
        source_name: str,
        options: Options,
        target_users: int | None = None,
    ) -> Analysis:
        """Analyse a warehouse query off the loop (on the small lane: the database does the
        work and only a few aggregate rows come back); AnalysisFailed names ``source_name``."""
        return await self._run(
            self._lanes[0], query_in_worker, url, query, source_name, options, target_users
        )

    async def analyse_platform(
        self,
        ref: str,
        *,
        environ: dict[str, str],
        options: Options,
        target_users: int | None = None,
        fetch: dict[str, Any] | None = None,
    ) -> Analysis:
        """Fetch and analyse a platform experiment off the loop (the small lane: a few rows per
        variant come back); AnalysisFailed names the platform."""
        return await self._run(
            self._lanes[0], platform_in_worker, ref, environ, options, target_users, fetch
        )

    async def _run(self, lane: Lane, function: Any, *args: Any) -> Analysis:
        if lane.executor is None:
            raise RuntimeError("AnalysisRunner.start() was not awaited")
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(lane.executor, function, *args)
        try:
            status, value = await asyncio.wait_for(call, self._timeout_s)
        except TimeoutError:
            raise AnalysisFailed(
                f"the analysis took longer than {self._timeout_s:.0f} s; aggregate the file first."
            ) from None
        except BrokenProcessPool:
            self._replace_executor(lane)
            raise AnalysisFailed(
                "the analysis worker stopped while reading this file (out of memory?). "
                "Try an aggregated file: one row per variant."
            ) from None
        if status == "error":
            raise AnalysisFailed(value)
        return value

    def _replace_executor(self, lane: Lane) -> None:
        logger.error("analysis worker pool %r broke; starting a new one", lane.name)
        old = lane.executor
        lane.executor, lane.owned = make_executor(self._kind, lane.workers), True
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
        for lane in self._lanes:
            if lane.executor is not None and lane.owned:
                await asyncio.to_thread(lane.executor.shutdown, wait=True, cancel_futures=True)
            lane.executor = None
