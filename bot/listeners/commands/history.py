from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.experiments import channel_history
from bot.render.listings import history_listing
from bot.services import Services


async def run_history(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """This channel's experiments, newest first, with verdict and a link to each thread."""
    await ack()
    summaries, links = await channel_history(
        services, client, command["team_id"], command["channel_id"], args
    )
    text, blocks = history_listing(summaries, links, search=args)
    await respond(text=text, blocks=blocks, response_type="ephemeral")
