"""A CSV reaches the analysis worker as a path, never as bytes, and its temporary file is gone
afterwards, whatever happened: a card, a refusal by the core or by the download, a timeout, a
broken worker pool. One CSV costs the history store one thread lookup, and no memo is rendered.

The bot runs over real HTTP against the Slack stand-in, with an analysis pool (threads) that
records what each analysis call was given, and the system's temporary directory pointed at a
directory of the test's own, so that leftovers can be seen.
"""

from __future__ import annotations

import inspect
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import CHANNEL, RunningBot, settings_for, sqlite_url, start_bot, stop_bot
from slack_standin import SlackStandIn

from bot.runner import analyse_in_worker
from bot.services import DOWNLOAD_PREFIX

TWO_ARMS = b"variant,users,conversions\ncontrol,20000,2000\ntreatment,20000,2200\n"
USER_LEVEL = b"user_id,variant,converted\n" + b"".join(
    f"u{i},{'control' if i % 2 else 'treatment'},{int(i % 7 == 0)}\n".encode() for i in range(400)
)
JUNK = bytes(range(256)) * 64


@dataclass
class AnalysisCall:
    args: tuple[Any, ...]
    existed_when_called: bool


class RecordingPool(ThreadPoolExecutor):
    """Runs what it is given, recording every analysis call; ``delay_s`` holds each analysis,
    ``broken`` fails it as a dead worker process would."""

    def __init__(self) -> None:
        super().__init__(max_workers=2, thread_name_prefix="recording-analysis")
        self.analyses: list[AnalysisCall] = []
        self.delay_s = 0.0
        self.broken = False
        self.finished = threading.Event()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not analyse_in_worker:
            return super().submit(fn, *args, **kwargs)
        path = args[0]
        self.analyses.append(AnalysisCall(args, isinstance(path, Path) and path.exists()))
        if self.broken:
            failed: Future[Any] = Future()
            failed.set_exception(BrokenProcessPool("a worker died"))
            return failed
        return super().submit(self._held, fn, *args, **kwargs)

    def _held(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay_s)
        try:
            return fn(*args, **kwargs)
        finally:
            self.finished.set()


class CountingStore:
    """The history store, counting each call of its coroutine methods by name."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await attribute(*args, **kwargs)

        return counted


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
async def pool() -> AsyncIterator[RecordingPool]:
    recording = RecordingPool()
    yield recording
    recording.shutdown(wait=True, cancel_futures=True)


async def running_bot(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path, **settings: Any
) -> RunningBot:
    values = {"database_url": sqlite_url(tmp_path), **settings}
    return await start_bot(standin, settings_for(standin, **values), pool)


async def answer(bot: RunningBot, ts: str) -> Any:
    """The message that replaced the thread's placeholder (a card or a problem), once idle."""
    standin = bot.standin
    await standin.wait_for(
        lambda: any(m.updates or "Analysing" not in m.text for m in standin.thread(CHANNEL, ts))
    )
    await bot.idle()
    [reply] = standin.thread(CHANNEL, ts)
    return reply


def downloads_left(directory: Path) -> list[Path]:
    return sorted(directory.glob(DOWNLOAD_PREFIX + "*"))


@pytest.mark.parametrize("content", [TWO_ARMS, USER_LEVEL], ids=["aggregated", "user-level"])
async def test_the_worker_gets_the_path_of_the_download_and_the_file_is_removed(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path, temp_dir: Path, content: bytes
) -> None:
    bot = await running_bot(standin, pool, tmp_path)
    try:
        ts = await bot.upload([standin.add_file("launch.csv", content)])
        reply = await answer(bot, ts)
    finally:
        await stop_bot(bot)
    assert standin.cards(CHANNEL, ts) == [reply]
    [call] = pool.analyses
    path, file_name = call.args[:2]
    assert isinstance(path, Path) and call.existed_when_called
    assert file_name == "launch.csv"
    assert not any(isinstance(arg, bytes | bytearray | memoryview) for arg in call.args)
    assert path.parent == temp_dir and path.name.startswith(DOWNLOAD_PREFIX)
    assert not path.exists()
    assert downloads_left(temp_dir) == []


async def test_a_file_the_core_refuses_is_removed(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path, temp_dir: Path
) -> None:
    bot = await running_bot(standin, pool, tmp_path)
    try:
        ts = await bot.upload([standin.add_file("junk.csv", JUNK)])
        reply = await answer(bot, ts)
    finally:
        await stop_bot(bot)
    assert "couldn't analyse `junk.csv`" in reply.text
    [call] = pool.analyses
    assert call.existed_when_called and not call.args[0].exists()
    assert downloads_left(temp_dir) == []


@pytest.mark.parametrize(
    ("content", "fragment"), [(b"   \n\n  ", "empty"), (b"<html><body>Sign in", "web page")]
)
async def test_a_download_refused_before_the_analysis_is_removed(
    standin: SlackStandIn,
    pool: RecordingPool,
    tmp_path: Path,
    temp_dir: Path,
    content: bytes,
    fragment: str,
) -> None:
    bot = await running_bot(standin, pool, tmp_path)
    try:
        ts = await bot.upload([standin.add_file("launch.csv", content)])
        reply = await answer(bot, ts)
    finally:
        await stop_bot(bot)
    assert fragment in reply.text
    assert pool.analyses == []
    assert downloads_left(temp_dir) == []


async def test_the_file_is_removed_after_a_timeout_while_the_worker_still_runs(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path, temp_dir: Path
) -> None:
    pool.delay_s = 3.0
    bot = await running_bot(standin, pool, tmp_path, analysis_timeout_s=1.0)
    try:
        ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
        reply = await answer(bot, ts)
        assert "took longer than 1 s" in reply.text
        assert not pool.finished.is_set()  # the worker is still holding the analysis
        assert downloads_left(temp_dir) == []
    finally:
        await stop_bot(bot)


async def test_the_file_is_removed_when_the_worker_pool_breaks(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path, temp_dir: Path
) -> None:
    pool.broken = True
    bot = await running_bot(standin, pool, tmp_path)
    try:
        ts = await bot.upload([standin.add_file("launch.csv", TWO_ARMS)])
        reply = await answer(bot, ts)
    finally:
        await stop_bot(bot)
    assert "worker stopped" in reply.text
    [call] = pool.analyses
    assert call.existed_when_called and not call.args[0].exists()
    assert downloads_left(temp_dir) == []


async def test_one_csv_looks_its_thread_up_once_and_stores_no_memo(
    standin: SlackStandIn, pool: RecordingPool, tmp_path: Path
) -> None:
    bot = await running_bot(standin, pool, tmp_path)
    try:
        services = bot.runtime.services
        store = services.store
        counting = CountingStore(store)
        services.store = counting  # type: ignore[assignment]
        ts = await bot.upload([standin.add_file("week1.csv", TWO_ARMS)])
        await answer(bot, ts)
        first = list(counting.calls)
        counting.calls.clear()
        await bot.upload([standin.add_file("week2.csv", TWO_ARMS)], thread_ts=ts)
        await standin.wait_for(lambda: len(standin.cards(CHANNEL, ts)) == 2)
        await bot.idle()
        second = list(counting.calls)
        experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, ts)
        looks = await store.analyses_for(standin.team_id, experiment.id)
    finally:
        await stop_bot(bot)
    assert first.count("find_experiment_by_thread") == 1, first
    assert second.count("find_experiment_by_thread") == 1, second
    assert [look.memo_markdown for look in looks] == [None, None]
