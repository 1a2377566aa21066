"""``/experiment pull growthbook EXP_KEY`` (``statsig``, ``hackle``): a platform experiment's
results, fetched and analysed off the event loop, posted in the channel as the same card a CSV
upload gets. The card's message is the new experiment's thread: a CSV posted there is its next
look. Failures are one ephemeral line; the API key never leaves the worker's call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import uuid
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import GENERIC, log_failure, new_error_id, user_message
from bot.render.card import card_text, render_card
from bot.render.format import esc
from bot.runner import AnalysisFailed
from bot.services import Services
from bot.source_access import platform_refusal
from bot.stored_looks import card_context
from bot.uploads import Upload, publish
from experimentos.errors import ExperimentError
from experimentos.model import Options
from experimentos.platforms import DISPLAY, PLATFORMS, platform_environ
from experimentos.platforms.hackle import NO_RESULTS_API
from experimentos.usecases import list_platform_experiments, plan_look, record_look

logger = logging.getLogger(__name__)

USAGE = (
    "Usage: `/experiment pull growthbook EXP_KEY` (or `statsig EXP_ID`; GrowthBook also takes "
    "`phase=N`, `dimension=ID` and `fresh`: a new analysis first); `/experiment pull "
    "growthbook` alone lists its running experiments and their keys."
)
FRESH_MARGIN_S = 30.0
"""A ``fresh`` pull waits for GrowthBook's new snapshot for the analysis worker's timeout less
this (90 s of the default 120 s), kept to read and analyse the results. A longer snapshot goes on
in GrowthBook, and the next pull without ``fresh`` reads it."""
LISTED = 20
"""At most this many experiments in the list (the command line's ``experiments`` lists all)."""
RUNNING = {"growthbook": "running", "statsig": "active"}
"""Each platform's word for an experiment that is collecting data."""


@dataclasses.dataclass(frozen=True, slots=True)
class Pull:
    platform: str
    key: str
    fetch: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.platform}:{self.key}"


class PullRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_pull(args: str) -> Pull:
    """``growthbook exp_1 phase=0 dimension=country`` → Pull; PullRefused with one line."""
    words = args.split()
    if not words or words[0].lower() not in PLATFORMS:
        raise PullRefused(USAGE)
    if len(words) == 1:
        return Pull(words[0].lower(), "", {})  # no key: list the platform's experiments
    platform, key, fetch = words[0].lower(), words[1], {}
    for word in words[2:]:
        name, _, value = word.partition("=")
        name = name.lower()
        if platform == "growthbook" and name == "phase" and value.isdigit():
            fetch["phase"] = int(value)
        elif platform == "growthbook" and name == "dimension" and value:
            fetch["dimension"] = value
        elif platform == "growthbook" and name == "fresh" and not value:
            fetch["snapshot"] = True
        else:
            raise PullRefused(f"`{esc(word)}` is not a pull option. {USAGE}")
    return Pull(platform, key, fetch)


async def run_pull(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Ack at once; fetch and analyse off the loop; post the card in the channel."""
    await ack()
    try:
        pull = parse_pull(args)
    except PullRefused as refused:
        await _say(respond, refused.message)
        return
    if pull.platform == "hackle":
        await _say(
            respond,
            f":warning: {esc(NO_RESULTS_API.replace('give it with --results FILE.csv', 'drop it'))}"
            " here.",
        )
        return
    if (missing := platform_refusal(pull.platform, os.environ)) is not None:
        await _say(respond, f":warning: {missing}")
        return
    if not pull.key:
        await _say(respond, f":hourglass: Listing {DISPLAY[pull.platform]}'s experiments…")
        services.spawn(_list(respond, pull.platform))
        return
    await _say(respond, f":hourglass: Pulling `{esc(pull.key)}` from {DISPLAY[pull.platform]}…")
    services.spawn(_pull(services, client, respond, command, pull))


async def _list(respond: AsyncRespond, platform: str) -> None:
    """The platform's running experiments with their keys, one ephemeral message (the HTTP
    calls run in a thread: they are blocking)."""
    try:
        found = await asyncio.to_thread(
            list_platform_experiments,
            platform,
            environ=platform_environ(platform, os.environ),
            status=RUNNING[platform],
        )
    except ExperimentError as error:
        await _say(respond, f":warning: {esc(error.message)}")
        return
    except Exception as error:
        await _say(respond, f":warning: {_failure(f'{DISPLAY[platform]} list', error)}")
        return
    name = DISPLAY[platform]
    if not found:
        await _say(respond, f"{name} has no {RUNNING[platform]} experiment.")
        return
    lines = [f"• `{esc(e.key)}` {esc(e.name)}" for e in found[:LISTED]]
    more = (
        f"\n…and {len(found) - LISTED} more: `experimentos experiments {platform}` lists all."
        if len(found) > LISTED
        else ""
    )
    await _say(
        respond,
        f"*{name}: {len(found)} {RUNNING[platform]} experiment{'s' if len(found) != 1 else ''}* "
        f"(pull one with `/experiment pull {platform} KEY`)\n" + "\n".join(lines) + more,
    )


async def _pull(
    services: Services,
    client: AsyncWebClient,
    respond: AsyncRespond,
    command: dict[str, Any],
    pull: Pull,
) -> None:
    team, channel, user = (
        str(command["team_id"]),
        str(command["channel_id"]),
        command.get("user_id"),
    )
    try:
        plan = await plan_look(
            services.store,
            team_id=team,
            channel=channel,
            thread_ts="",
            options=Options(),
            file_name=pull.ref,
            bind_thread=False,
        )
        analysis = await services.runner.analyse_platform(
            pull.ref,
            environ=platform_environ(pull.platform, os.environ),
            options=plan.options,
            target_users=plan.target_users,
            fetch=_bounded(pull.fetch, services.settings.analysis_timeout_s),
        )
    except AnalysisFailed as failed:
        await _say(respond, f":warning: {esc(failed.message)}")
        return
    except Exception as error:
        await _say(respond, f":warning: {_failure(f'`{esc(pull.key)}` pull', error)}")
        return
    try:
        posted = await client.chat_postMessage(channel=channel, text=card_text(analysis))
        thread_ts = str(posted["ts"])
        record, experiment = await record_look(
            services.store,
            dataclasses.replace(plan, bind_thread=True),
            analysis,
            team_id=team,
            channel=channel,
            thread_ts=thread_ts,
            user=user,
            event_key=f"pull:{pull.ref}:{uuid.uuid4().hex}",
        )
        blocks = render_card(
            analysis, key=str(record.id), context=card_context(experiment, record, analysis, None)
        )
        where = Upload(team, channel, thread_ts, thread_ts, user, "", ())
        card_ts = await publish(client, where, thread_ts, card_text(analysis), blocks)
        await services.store.set_analysis_message(team, record.id, card_ts)
    except Exception as error:
        await _say(respond, f":warning: {_failure(f'`{esc(pull.key)}` pull', error)}")
        return
    await respond(
        text=f"`{esc(pull.key)}` pulled from {DISPLAY[pull.platform]}: "
        f"{esc(experiment.ref)} is in the channel.",
        response_type="ephemeral",
        replace_original=True,
    )


def _failure(what: str, error: BaseException) -> str:
    """``what`` (mrkdwn, e.g. "`exp_1` pull") failed: one line with an error id in the logs."""
    error_id = new_error_id()
    log_failure(logger, error, error_id, what)
    said = user_message(error) or GENERIC
    return f"{what} failed: {esc(said)} (error id `{error_id}`)"


def _bounded(fetch: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """``fetch`` with a fresh snapshot's wait fitted inside the worker's ``timeout_s``."""
    if not fetch.get("snapshot"):
        return fetch
    return fetch | {"snapshot_wait_s": max(0.0, timeout_s - FRESH_MARGIN_S)}


async def _say(respond: AsyncRespond, line: str) -> None:
    await respond(text=line, response_type="ephemeral", replace_original=True)
