"""The saved-source use-case: ``/experiment refresh EXP-n`` runs the charter's warehouse query and
posts the result as the experiment's next look, in its thread.

The charter stores only the NAME of the environment variable holding the database URL; the URL is
read here, handed to an analysis worker (the query runs off the event loop, the database
aggregates the rows) and never logged or shown: a failing source is one line naming the variable
and what the database said (``sql_source`` hides the password). The look goes through the same
plan → analyse → record → publish path as a CSV posted in the thread, under the same thread lock.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import GENERIC, log_failure, new_error_id, user_message
from bot.render.card import card_text, render_card
from bot.render.format import esc
from bot.runner import AnalysisFailed
from bot.services import Services
from bot.source_access import platform_refusal, refusal
from bot.stored_looks import card_context
from bot.uploads import Upload, publish
from experimentos.model import Options
from experimentos.platforms import platform_environ
from experimentos.store import ExperimentRecord
from experimentos.usecases import plan_look, record_look

logger = logging.getLogger(__name__)


class RefreshRefused(Exception):
    """The refresh cannot start or failed; ``message`` is one mrkdwn line for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one refresh needs: the experiment with a saved source, and who asked."""

    team_id: str
    experiment: ExperimentRecord
    user: str | None
    url: str
    """The database URL read from the environment: passed to the worker, never logged
    ('' for a platform source)."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """A platform source's API key and URL variables, handed to the worker, never logged."""

    @property
    def source(self) -> str:
        """What the refresh reads, as shown: the variable's name or the platform experiment."""
        charter = self.experiment.charter
        return str(charter.source_env or charter.source_platform)

    def __repr__(self) -> str:  # a traceback or a debug log must not print the URL or a key
        return f"Refresh({self.experiment.ref}, source={self.source})"


def prepare(
    team_id: str,
    experiment: ExperimentRecord,
    *,
    user: str | None,
    environ: Mapping[str, str] | None = None,
) -> Refresh:
    """The refresh of ``experiment``, its URL read from ``environ`` (default: the process's);
    RefreshRefused when it has no saved source, no thread, or the variable is not set."""
    charter, ref = experiment.charter, esc(experiment.ref)
    if not charter.has_source:
        raise RefreshRefused(
            f"`{ref}` has no saved data source: its charter names no variable and query, nor a "
            "platform experiment (`/experiment new` → Data source)."
        )
    if not experiment.thread_ts:
        raise RefreshRefused(f"`{ref}` has no thread in Slack to post the look in.")
    environ = os.environ if environ is None else environ
    if charter.source_platform:
        platform = charter.source_platform.partition(":")[0]
        if (missing := platform_refusal(platform, environ)) is not None:
            raise RefreshRefused(f"{missing[:-1]}, then refresh `{ref}` again.")
        return Refresh(team_id, experiment, user, "", platform_environ(platform, environ))
    if (refused := refusal(charter.source_env, environ)) is not None:
        raise RefreshRefused(f"`{ref}` not refreshed: {esc(refused)}")
    url = environ.get(charter.source_env, "").strip()
    if not url:
        raise RefreshRefused(
            f"`{esc(charter.source_env)}` is not set in the bot's environment: set it to the "
            f"database URL `{ref}` reads from, then refresh again."
        )
    return Refresh(team_id, experiment, user, url)


async def refresh_look(services: Services, client: AsyncWebClient, refresh: Refresh) -> str:
    """Run the saved query and post its look in the experiment's thread; returns the card's ts.

    Raises RefreshRefused with the source's own one-line message when the query fails."""
    experiment = refresh.experiment
    channel, thread_ts = experiment.channel_id, str(experiment.thread_ts)
    source = refresh.source
    async with services.threads.hold((refresh.team_id, channel, thread_ts)):
        plan = await plan_look(
            services.store,
            team_id=refresh.team_id,
            channel=channel,
            thread_ts=thread_ts,
            options=Options(),
            file_name=source,
        )
        try:
            if refresh.keys:
                analysis = await services.runner.analyse_platform(
                    source,
                    environ=dict(refresh.keys),
                    options=plan.options,
                    target_users=plan.target_users,
                )
            else:
                analysis = await services.runner.analyse_query(
                    refresh.url,
                    str(experiment.charter.source_query),
                    source_name=source,
                    options=plan.options,
                    target_users=plan.target_users,
                )
        except AnalysisFailed as failed:
            raise RefreshRefused(
                f"`{esc(experiment.ref)}` not refreshed: {esc(failed.message)}"
            ) from None
        record, updated = await record_look(
            services.store,
            plan,
            analysis,
            team_id=refresh.team_id,
            channel=channel,
            thread_ts=thread_ts,
            user=refresh.user,
            event_key=f"refresh:{experiment.id}:{uuid.uuid4().hex}",
        )
        blocks = render_card(
            analysis,
            key=str(record.id),
            context=card_context(updated, record, analysis, plan.previous),
        )
        where = Upload(refresh.team_id, channel, thread_ts, thread_ts, refresh.user, "", ())
        card_ts = await publish(client, where, None, card_text(analysis), blocks)
    await services.store.set_analysis_message(refresh.team_id, record.id, card_ts)
    return card_ts


def failure_line(refresh: Refresh, error: BaseException) -> str:
    """One mrkdwn line for an unexpected failure, with an error id in the logs (no URL)."""
    error_id = new_error_id()
    log_failure(logger, error, error_id, f"refresh of {refresh!r}")
    said = user_message(error) or GENERIC
    return f"`{esc(refresh.experiment.ref)}` not refreshed: {esc(said)} (error id `{error_id}`)"
