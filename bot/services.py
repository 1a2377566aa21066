"""Use-cases of the Slack shell: fetch a file, analyse it off the loop, keep it, plan a test.

One ``Services`` object is built at start-up and reaches every listener through Bolt's context
(see bot/middleware.py). It owns the download session, the analysis runner, the render pool, the
history store (opened and closed by :mod:`bot.web`), and the small in-memory state in front of it.

Memos and charts are drawn on the render pool, a bounded pool of their own: never on asyncio's
default thread pool or on the runner's lanes, which the path from an upload to its card uses, so
any number of Memo or Details clicks only queue behind each other and never delay a card.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot import files
from bot.memory import KeyedLocks, SeenKeys
from bot.runner import AnalysisRunner, make_executor
from bot.settings import BotSettings, ExecutorKind
from experimentos.model import Analysis, Options
from experimentos.power_args import PowerArgsError, PowerRequest, parse_power_args
from experimentos.store import HistoryStore

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)
DOWNLOAD_PREFIX = "experimentos-upload-"
"""Downloaded CSVs are temporary files named with this prefix (removed once analysed)."""
RENDER_WORKERS = 1
"""Memos and charts are drawn one at a time (matplotlib figures are not shared across threads)."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A CSV downloaded from Slack into a temporary file (see ``Services.downloaded_csv``)."""

    file_id: str
    name: str
    path: Path
    size_bytes: int


class Services:
    def __init__(
        self, settings: BotSettings, store: HistoryStore, *, executor: Executor | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.runner = AnalysisRunner(
            kind=settings.executor,
            workers=settings.analysis_workers,
            timeout_s=settings.analysis_timeout_s,
            executor=executor,
        )
        self._render_kind: ExecutorKind = "thread" if executor is not None else settings.executor
        """Worker processes in production (the loop's GIL stays free); threads when the tests
        inject the analysis pool, so they do not spawn a process per bot."""
        self._renderer: Executor | None = None
        self.seen = SeenKeys()
        self.threads = KeyedLocks()
        self._permalinks: dict[tuple[str, str], str] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.token_hosts = files.TokenHosts.for_api(settings.api_url)
        self._http: aiohttp.ClientSession | None = None
        self._jobs = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.schedules_changed: Callable[[], None] = lambda: None
        """Called after a charter is saved; the runtime points it at its scheduler's sync."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        self._renderer = _render_executor(self._render_kind)
        await self.runner.start()
        self._sweeper = asyncio.create_task(self._sweep_events())

    async def close(self, *, drain_s: float = 20.0) -> None:
        """Let running jobs finish (up to ``drain_s``), then release the workers and sessions."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_s)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.runner.close()
        if self._renderer is not None:
            renderer, self._renderer = self._renderer, None
            await asyncio.to_thread(renderer.shutdown, wait=True, cancel_futures=True)
        if self._http is not None:
            await self._http.close()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` as a tracked background task (shutdown waits for it; tests wait for quiet).

        Counted from this call on, so a request whose response has left has its work counted.
        """
        self._jobs += 1
        self._idle.clear()
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._jobs -= 1
        if self._jobs == 0:
            self._idle.set()

    @property
    def jobs_in_flight(self) -> int:
        return self._jobs

    async def wait_idle(self) -> None:
        await self._idle.wait()

    # ------------------------------------------------------------------ files and analyses

    async def file_info(self, client: AsyncWebClient, file_id: str) -> dict[str, Any]:
        response = await client.files_info(file=file_id)
        return dict(response["file"])

    @contextlib.asynccontextmanager
    async def downloaded_csv(
        self, client: AsyncWebClient, file: Mapping[str, Any]
    ) -> AsyncIterator[FetchedFile]:
        """Download a CSV shared in Slack into a temporary file (streamed to disk, size-capped),
        completing its metadata with files.info if needed; the file is removed on leaving, however
        the block ends (card, refusal, timeout, a broken worker)."""
        if not file.get("url_private_download") and not file.get("url_private"):
            file = await self.file_info(client, str(file["id"]))
        files.check_declared_size(file, self.settings.max_download_bytes)
        url = str(file.get("url_private_download") or file.get("url_private"))
        assert self._http is not None, "Services.start() was not awaited"
        descriptor, name = tempfile.mkstemp(prefix=DOWNLOAD_PREFIX, suffix=".csv")
        os.close(descriptor)
        path = Path(name)
        try:
            size = await files.download(
                self._http,
                url,
                token=self.settings.bot_token,
                token_hosts=self.token_hosts,
                max_bytes=self.settings.max_download_bytes,
                destination=path,
            )
            yield FetchedFile(str(file.get("id")), files.display_name(file), path, size)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def analyse(
        self, fetched: FetchedFile, options: Options, *, target_users: int | None = None
    ) -> Analysis:
        """The analysis of a downloaded file, by a worker that reads it from its path."""
        return await self.runner.analyse(
            fetched.path,
            size_bytes=fetched.size_bytes,
            file_name=fetched.name,
            options=options,
            target_users=target_users,
        )

    async def render(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the render pool (memos, charts), within the analysis timeout."""
        if self._renderer is None:
            raise RuntimeError("Services.start() was not awaited")
        call = asyncio.get_running_loop().run_in_executor(self._renderer, function, *args)
        try:
            return await asyncio.wait_for(call, self.settings.analysis_timeout_s)
        except BrokenProcessPool:
            logger.error("the render worker stopped; starting a new one")
            broken, self._renderer = self._renderer, _render_executor(self._render_kind)
            broken.shutdown(wait=False, cancel_futures=True)
            raise

    async def memo_documents(
        self, analysis: Analysis, *, audit: Iterable[str] = ()
    ) -> tuple[str, str]:
        """(Markdown, HTML) of the decision memo, ending with ``audit``, on the render pool."""
        from experimentos.report import memo

        lines = tuple(audit)
        markdown = await self.render(functools.partial(memo.render_markdown, analysis, audit=lines))
        html = await self.render(functools.partial(memo.render_html, analysis, audit=lines))
        return str(markdown), str(html)

    async def forest_chart(self, analysis: Analysis) -> tuple[bytes, str]:
        """(PNG, alt text) of the analysis's forest plot, drawn on the render pool."""
        from bot.runner import forest_in_worker

        png, alt_text = await self.render(forest_in_worker, analysis)
        return png, alt_text

    async def lift_by_day_chart(self, analysis: Analysis) -> tuple[bytes, str]:
        """(PNG, alt text) of the primary's lift by day of first exposure (needs a novelty check)."""
        from bot.runner import lift_by_day_in_worker

        png, alt_text = await self.render(lift_by_day_in_worker, analysis)
        return png, alt_text

    async def looks_chart(
        self,
        points: list[Any],
        *,
        of_looks: int | None,
        spending: str = "obf",
        always_valid: bool = False,
    ) -> bytes:
        from bot.runner import looks_in_worker

        return bytes(await self.render(looks_in_worker, points, of_looks, spending, always_valid))

    async def power_chart(self, plan: Any) -> bytes:
        from bot.runner import power_curve_in_worker

        return bytes(await self.render(power_curve_in_worker, plan))

    # ------------------------------------------------------------------ history

    async def claim(self, team_id: str, key: str) -> bool:
        """First time this process or any other sharing the database sees ``key``?

        The in-memory set answers repeats within this process without a database round trip.
        """
        if not self.seen.claim(("claim", team_id, key)):
            return False
        return await self.store.claim_event(team_id, key)

    async def _sweep_events(self) -> None:
        """Forget claimed event keys older than the retention, now and every interval."""
        while True:
            before = datetime.now(UTC) - timedelta(seconds=self.settings.event_retention_s)
            try:
                forgotten = await self.store.forget_events(before)
                logger.debug("forgot %d claimed events", forgotten)
            except Exception:  # the next sweep tries again; claims only accumulate meanwhile
                logger.exception("could not forget old claimed events")
            await asyncio.sleep(self.settings.event_sweep_interval_s)

    async def permalink(self, client: AsyncWebClient, channel: str, ts: str) -> str:
        """A link to a message (chat.getPermalink, cached); Slack's redirect link if refused."""
        key = (channel, ts)
        if key not in self._permalinks:
            try:
                response = await client.chat_getPermalink(channel=channel, message_ts=ts)
                self._permalinks[key] = str(response["permalink"])
            except Exception as error:  # a listing must not fail for want of a link
                logger.info("no permalink for %s/%s (%s)", channel, ts, error)
                query = urlencode({"channel": channel, "message_ts": ts})
                return f"https://slack.com/app_redirect?{query}"
        return self._permalinks[key]

    # ------------------------------------------------------------------ power

    async def plan_power(self, text: str) -> tuple[PowerRequest, Any]:
        """Parse ``baseline=10% mde=1pp …`` and size the test; PowerArgsError on bad values."""
        request = parse_power_args(text)
        from experimentos.stats.power import plan_sample_size

        try:
            plan = await asyncio.to_thread(lambda: plan_sample_size(**request.as_kwargs()))
        except ValueError as error:
            raise PowerArgsError(str(error)) from None
        return request, plan


def _render_executor(kind: ExecutorKind) -> Executor:
    """The render pool: a worker process (lower priority, as the analysis workers) or a thread."""
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=RENDER_WORKERS, thread_name_prefix="render")
    return make_executor("process", RENDER_WORKERS)
