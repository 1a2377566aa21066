"""Scheduled looks and the channel digest, run by APScheduler inside the bot process.

One cron job per experiment whose charter has a refresh schedule (and a data source, a thread,
and is not completed), one cron job for the digest (``EXPERIMENTOS_DIGEST``, default Monday 09:00
UTC), and a sync job that re-reads the charters every ``schedule_sync_s`` and right after a
charter is saved here, so charters saved by another bot process are picked up too.

Exactly once across processes: every process sharing the history runs the same jobs. When a job
fires for its due time T, the process claims ``(kind, subject, T)`` in ``scheduled_runs`` (a
unique row: the first INSERT wins); only the winner runs the look (:mod:`bot.refresh`, the same
path as ``/experiment refresh``) or posts the digest, then keeps the outcome in that row. A failing
look posts one line in the experiment's thread, and that line is the run's outcome.

Missed fires. Jobs live in memory and are added from "now" at start-up, so due times that passed
while every process was down are skipped, not caught up: a late look would be labelled with a due
time it did not meet, and the next due time (or ``/experiment refresh``) brings the data anyway.
A fire delayed while the process runs (a busy loop, a suspended machine) still runs within
:data:`MISFIRE_GRACE_S`; several missed fires of one job coalesce into one run, for the latest
due time. T is computed from the schedule (the latest fire time at or before the moment the job
runs), so every process claims the same T.

Which Slack client posts: the bot runs in one workspace with one bot token, so the Bolt app's
own client (the one every listener gets) posts the looks and digests.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest import by_channel, digest_line
from bot.errors import GENERIC, log_failure, new_error_id, user_message
from bot.refresh import RefreshRefused, failure_line, prepare, refresh_look
from bot.render.charter_modal import schedule_text
from bot.render.digest import digest_message
from bot.render.format import esc
from bot.services import Services
from bot.settings import BotSettings
from experimentos.schedule import Schedule, ScheduleError, parse_schedule

logger = logging.getLogger(__name__)

LOOK, DIGEST = "look", "digest"
MISFIRE_GRACE_S = 15 * 60
"""A fire delayed by up to this much still runs (schedules fire at most hourly)."""
SYNC_JOB, DIGEST_JOB = "sync-schedules", "digest"
FINISHED_KEPT = 100
RUNS_KEPT = timedelta(days=90)
"""Claimed runs older than this are deleted at each sync: they can never be claimed again."""


def look_job_id(experiment_id: int) -> str:
    return f"look:{experiment_id}"


class Scheduler:
    """The bot process's scheduled jobs; :meth:`start` and :meth:`close` follow the runtime."""

    def __init__(self, services: Services, client: AsyncWebClient, settings: BotSettings) -> None:
        self.services = services
        self.client = client
        self.settings = settings
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who claims runs: unique per scheduler, also between two in one process."""
        self.team_id: str | None = None
        """The workspace the bot's token posts in (``auth.test``): the history may also hold
        the command line's looks (team ``local``) or another workspace's, which this bot cannot
        post to, so only this team's experiments are scheduled and digested."""
        self._apscheduler: AsyncIOScheduler | None = None
        self._schedules: dict[int, str] = {}
        self._sync_lock = asyncio.Lock()
        self._digest = (
            parse_schedule(settings.digest_schedule) if settings.digest_schedule else None
        )
        self.finished: collections.deque[tuple[str, str, datetime, str | None]] = collections.deque(
            maxlen=FINISHED_KEPT
        )
        """The latest runs this process attempted: (kind, subject, due, outcome; None when
        another process had claimed it), for health checks and tests."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._apscheduler is not None

    async def start(self) -> None:
        """Start the jobs (the event loop must be running); a second call does nothing."""
        if self._apscheduler is not None:
            return
        if await self.workspace() is None:  # nothing is scheduled until a restart can ask again
            return
        apscheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE_S,
                "max_instances": 1,
            },
        )
        apscheduler.start()
        self._apscheduler = apscheduler
        apscheduler.add_job(
            self.sync, IntervalTrigger(seconds=self.settings.schedule_sync_s), id=SYNC_JOB
        )
        if self._digest is not None:
            apscheduler.add_job(self._digest_job, self._digest.trigger, id=DIGEST_JOB)
        await self.sync()
        logger.info(
            "scheduler %s started: %d scheduled experiments, digest %s",
            self.name,
            len(self._schedules),
            self._digest.describe() if self._digest else "off",
        )

    async def close(self) -> None:
        """Stop firing; runs already started finish (they are the services' tracked jobs)."""
        if self._apscheduler is not None:
            apscheduler, self._apscheduler = self._apscheduler, None
            apscheduler.shutdown(wait=False)
            self._schedules.clear()

    def next_fire(self, experiment_id: int) -> datetime | None:
        """When this process next fires the experiment's scheduled look (None: not scheduled)."""
        job = self._apscheduler.get_job(look_job_id(experiment_id)) if self._apscheduler else None
        return job.next_run_time if job is not None else None

    def jobs(self) -> list[Any]:
        return self._apscheduler.get_jobs() if self._apscheduler else []

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` says of the schedule: whether it runs, how many experiments it
        refreshes, when it next fires, and how this process's latest runs ended — as counts, since
        an outcome's line names channels and experiments."""
        upcoming = [job.next_run_time for job in self.jobs() if job.id != SYNC_JOB]
        runs = collections.Counter(_run_kind(outcome) for *_, outcome in self.finished)
        return {
            "enabled": self.settings.scheduler,
            "running": self.running,
            "scheduled_experiments": len(self._schedules),
            "digest": self._digest.describe() if self._digest else None,
            "next_run": min(upcoming).isoformat() if upcoming else None,
            "latest_runs": {kind: runs[kind] for kind in RUN_KINDS},
        }

    async def workspace(self) -> str | None:
        """The bot's team id, asked of Slack once (``auth.test``); None when Slack cannot say."""
        if self.team_id is None:
            try:
                self.team_id = str((await self.client.auth_test())["team_id"])
            except Exception:
                logger.exception("the scheduler could not learn the bot's workspace (auth.test)")
        return self.team_id

    # ------------------------------------------------------------------ sync

    def schedules_changed(self) -> None:
        """A charter was saved: re-read the schedules now (in the background)."""
        if self._apscheduler is not None:
            self.services.spawn(self.sync())

    async def sync(self) -> None:
        """Add, replace and remove look jobs to match the schedules in the history."""
        async with self._sync_lock:
            if self._apscheduler is None:
                return
            try:
                await self.services.store.forget_runs(datetime.now(UTC) - RUNS_KEPT)
                experiments = await self.services.store.scheduled_experiments()
            except Exception:  # the next sync tries again; the jobs stay as they were
                logger.exception("could not read the scheduled experiments")
                return
            wanted = {
                e.id: e
                for e in experiments
                if e.charter.refresh_schedule and e.team_id == self.team_id
            }
            for experiment_id in list(self._schedules):
                if experiment_id not in wanted:
                    self._remove(experiment_id)
            for experiment_id, experiment in wanted.items():
                text = str(experiment.charter.refresh_schedule)
                if self._schedules.get(experiment_id) == text:
                    continue
                self._apscheduler.add_job(
                    self._look_job,
                    parse_schedule(text).trigger,
                    id=look_job_id(experiment_id),
                    kwargs={"experiment_id": experiment_id, "team_id": experiment.team_id},
                    replace_existing=True,
                )
                self._schedules[experiment_id] = text

    def _remove(self, experiment_id: int) -> None:
        self._schedules.pop(experiment_id, None)
        if self._apscheduler is not None and self._apscheduler.get_job(look_job_id(experiment_id)):
            self._apscheduler.remove_job(look_job_id(experiment_id))

    # ------------------------------------------------------------------ scheduled looks

    async def _look_job(self, experiment_id: int, team_id: str) -> None:
        text = self._schedules.get(experiment_id)
        due = _due(text, datetime.now(UTC)) if text else None
        if due is None:
            logger.warning("look job of experiment %s woke up with no due time", experiment_id)
            return
        await self.services.spawn(self._quietly(self.run_look(experiment_id, team_id, due)))

    async def run_look(self, experiment_id: int, team_id: str, due: datetime) -> str | None:
        """Claim the look due at ``due``; the winner refreshes and returns the outcome it kept
        (None: another process claimed it)."""
        store = self.services.store
        subject = str(experiment_id)
        if not await store.claim_run(LOOK, subject, due, self.name):
            logger.info("scheduled look of experiment %s due %s: claimed elsewhere", subject, due)
            self.finished.append((LOOK, subject, due, None))
            return None
        outcome = await self._look(experiment_id, team_id)
        await store.finish_run(LOOK, subject, due, outcome)
        self.finished.append((LOOK, subject, due, outcome))
        return outcome

    async def _look(self, experiment_id: int, team_id: str) -> str:
        """Run the look; the outcome in one line (a failure is also posted in the thread)."""
        try:
            experiment = await self.services.store.get_experiment_by_id(team_id, experiment_id)
        except Exception as error:
            return "failed: " + _unexpected(error, f"scheduled look of experiment {experiment_id}")
        if experiment.status == "completed" or not experiment.charter.refresh_schedule:
            return "skipped: the experiment is completed or no longer scheduled"
        schedule = schedule_text(experiment.charter.refresh_schedule)
        refresh = None
        try:
            refresh = prepare(team_id, experiment, user=None)
            card_ts = await refresh_look(self.services, self.client, refresh)
        except RefreshRefused as refused:
            line = refused.message
        except Exception as error:
            line = (
                failure_line(refresh, error)
                if refresh is not None
                else f"`{esc(experiment.ref)}` not refreshed: "
                + _unexpected(error, f"scheduled look of {experiment.ref}")
            )
        else:
            return f"posted {card_ts}"
        if experiment.thread_ts:
            try:
                await self.client.chat_postMessage(
                    channel=experiment.channel_id,
                    thread_ts=experiment.thread_ts,
                    text=f":warning: Scheduled look ({esc(schedule)}): {line}",
                )
            except Exception as error:  # the outcome below still says what happened
                logger.warning("could not post the failed look of %s: %s", experiment.ref, error)
        return f"failed: {line}"

    # ------------------------------------------------------------------ digest

    async def _digest_job(self) -> None:
        due = _due(self._digest.text if self._digest else None, datetime.now(UTC))
        if due is None:
            return
        await self.services.spawn(self._quietly(self.run_digest(due)))

    async def run_digest(self, due: datetime) -> dict[str, str]:
        """Post each channel's digest of running experiments, claimed per channel for ``due``;
        returns the outcome by ``team:channel`` of the channels this process claimed."""
        store = self.services.store
        outcomes: dict[str, str] = {}
        team = await self.workspace()
        channels = by_channel(await store.running_undecided())
        for (team_id, channel_id), summaries in channels.items():
            if team_id != team:  # the command line's looks, or another workspace's
                continue
            subject = f"{team_id}:{channel_id}"
            if not await store.claim_run(DIGEST, subject, due, self.name):
                self.finished.append((DIGEST, subject, due, None))
                continue
            try:
                lines = []
                for summary in summaries:
                    thread = summary.experiment.thread_ts
                    link = (
                        await self.services.permalink(self.client, channel_id, thread)
                        if thread
                        else None
                    )
                    lines.append(await digest_line(store, summary, link))
                when = self._digest.describe() if self._digest else ""
                text, blocks = digest_message(lines, when=f"posted {when}" if when else "")
                posted = await self.client.chat_postMessage(
                    channel=channel_id, text=text, blocks=blocks
                )
                outcome = f"posted {posted['ts']}"
            except Exception as error:
                outcome = "failed: " + _unexpected(error, f"digest of {subject}")
            await store.finish_run(DIGEST, subject, due, outcome)
            self.finished.append((DIGEST, subject, due, outcome))
            outcomes[subject] = outcome
        return outcomes

    @staticmethod
    async def _quietly(work: Any) -> None:
        """A job's run: errors are logged, never raised into the scheduler."""
        try:
            await work
        except Exception:
            logger.exception("a scheduled run failed")


RUN_KINDS = ("posted", "failed", "skipped", "claimed_elsewhere")


def _run_kind(outcome: str | None) -> str:
    """A run's outcome line as one of :data:`RUN_KINDS`."""
    if outcome is None:
        return "claimed_elsewhere"
    head = outcome.split(maxsplit=1)[0].rstrip(":")
    return head if head in RUN_KINDS else "failed"


def _due(text: str | None, now: datetime) -> datetime | None:
    """The due time a job waking at ``now`` runs for: its schedule's latest fire ≤ now."""
    if not text:
        return None
    try:
        schedule: Schedule = parse_schedule(text)
    except ScheduleError:
        return None
    return schedule.latest_fire(now, within=timedelta(seconds=MISFIRE_GRACE_S + 60))


def _unexpected(error: BaseException, what: str) -> str:
    """One line for an unexpected failure, with an error id in the logs (no URL, no secret)."""
    error_id = new_error_id()
    log_failure(logger, error, error_id, what)
    return f"{esc(user_message(error) or GENERIC)} (error id `{error_id}`)"
