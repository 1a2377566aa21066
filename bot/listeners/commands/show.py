from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.commands.lookup import latest_look_or_explain
from bot.render import listings as history
from bot.render.card import card_text, render_card
from bot.render.format import esc
from bot.services import Services


async def run_show(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Re-post the latest card of an experiment in its thread."""
    await ack()
    found = await latest_look_or_explain(args, command, respond, services)
    if found is None:
        return
    experiment, look = found
    channel = look.channel if look.thread_ts else command["channel_id"]
    posted = await client.chat_postMessage(
        channel=channel,
        thread_ts=look.thread_ts,
        text=card_text(look.analysis),
        blocks=render_card(look.analysis, key=look.key, context=look.context),
    )
    link = await services.permalink(client, channel, str(posted["ts"]))
    text, blocks = history.done(f"Re-posted the latest card of `{esc(experiment.ref)}`.", link)
    await respond(text=text, blocks=blocks, response_type="ephemeral")
