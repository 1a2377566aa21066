"""Use-cases of the Slack shell: fetch a file, analyse it off the loop, keep it, plan a test.

One ``Services`` object is built at start-up and reaches every listener through Bolt's context
(see bot/middleware.py). It owns the download session, the analysis runner, and the in-memory state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot import files
from bot.memory import RecentAnalyses, RecentAnalysis, SeenKeys
from bot.power_args import PowerArgsError, PowerRequest, parse_power_args
from bot.runner import AnalysisRunner
from bot.settings import BotSettings
from experimentos.model import Analysis, Options

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)


@dataclass(frozen=True, slots=True)
class FetchedFile:
    file_id: str
    name: str
    data: bytes


class Services:
    def __init__(self, settings: BotSettings, *, executor: Executor | None = None) -> None:
        self.settings = settings
        self.runner = AnalysisRunner(
            kind=settings.executor,
            workers=settings.analysis_workers,
            timeout_s=settings.analysis_timeout_s,
            executor=executor,
        )
        self.recent = RecentAnalyses(settings.recent_analyses)
        self.seen = SeenKeys()
        self.token_hosts = files.TokenHosts.for_api(settings.api_url)
        self._http: aiohttp.ClientSession | None = None
        self._jobs = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        await self.runner.start()

    async def close(self, *, drain_s: float = 20.0) -> None:
        """Let running jobs finish (up to ``drain_s``), then release the workers and sessions."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_s)
        await self.runner.close()
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

    async def fetch_csv(self, client: AsyncWebClient, file: Mapping[str, Any]) -> FetchedFile:
        """Download a CSV shared in Slack, completing its metadata with files.info if needed."""
        if not file.get("url_private_download") and not file.get("url_private"):
            file = await self.file_info(client, str(file["id"]))
        files.check_declared_size(file, self.settings.max_download_bytes)
        url = str(file.get("url_private_download") or file.get("url_private"))
        assert self._http is not None, "Services.start() was not awaited"
        data = await files.download(
            self._http,
            url,
            token=self.settings.bot_token,
            token_hosts=self.token_hosts,
            max_bytes=self.settings.max_download_bytes,
        )
        return FetchedFile(str(file.get("id")), files.display_name(file), data)

    async def analyse(self, fetched: FetchedFile, options: Options) -> Analysis:
        return await self.runner.analyse(fetched.data, file_name=fetched.name, options=options)

    def remember(
        self, analysis: Analysis, *, team_id: str | None, channel: str, thread_ts: str
    ) -> RecentAnalysis:
        return self.recent.put(analysis, team_id=team_id, channel=channel, thread_ts=thread_ts)

    async def memo_documents(self, analysis: Analysis) -> tuple[str, str]:
        """(Markdown, HTML) of the decision memo, rendered off the loop."""
        from experimentos import memo

        return await asyncio.gather(
            asyncio.to_thread(memo.render_markdown, analysis),
            asyncio.to_thread(memo.render_html, analysis),
        )

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
