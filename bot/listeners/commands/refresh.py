"""``/experiment refresh EXP-n``: the charter's saved query, analysed as the next look."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.commands.lookup import experiment_or_explain
from bot.refresh import Refresh, RefreshRefused, failure_line, prepare, refresh_look
from bot.render import listings
from bot.render.format import esc
from bot.services import Services


async def run_refresh(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Ack at once; then run the saved query off the loop and post the look in the thread."""
    await ack()
    experiment = await experiment_or_explain(args, command, respond, services, usage="EXP-n")
    if experiment is None:
        return
    try:
        refresh = prepare(command["team_id"], experiment, user=command.get("user_id"))
    except RefreshRefused as refused:
        await _say(respond, f":warning: {refused.message}")
        return
    doing = (
        f"Running the saved query of `{esc(experiment.ref)}` on `{esc(refresh.source)}`…"
        if not refresh.keys
        else f"Reading `{esc(refresh.source)}` for `{esc(experiment.ref)}`…"
    )
    await _say(respond, f":hourglass: {doing}")
    services.spawn(_refresh(services, client, respond, refresh))


async def _refresh(
    services: Services, client: AsyncWebClient, respond: AsyncRespond, refresh: Refresh
) -> None:
    try:
        card_ts = await refresh_look(services, client, refresh)
    except RefreshRefused as refused:
        await _say(respond, f":warning: {refused.message}")
        return
    except Exception as error:
        await _say(respond, f":warning: {failure_line(refresh, error)}")
        return
    experiment = refresh.experiment
    link = await services.permalink(client, experiment.channel_id, card_ts)
    text, blocks = listings.done(
        f"`{esc(experiment.ref)}` refreshed: the new look is in its thread.", link
    )
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)


async def _say(respond: AsyncRespond, line: str) -> None:
    await respond(text=line, response_type="ephemeral", replace_original=True)
