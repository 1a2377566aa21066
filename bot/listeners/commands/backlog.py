from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.experiments import channel_backlog
from bot.render.listings import backlog_listing
from bot.services import Services


async def run_backlog(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    command: dict[str, Any],
    services: Services,
    **_: Any,
) -> None:
    """This channel's proposed experiments, best RICE score first."""
    await ack()
    records = await channel_backlog(services.store, command["team_id"], command["channel_id"])
    text, blocks = backlog_listing(records)
    await respond(text=text, blocks=blocks, response_type="ephemeral")
