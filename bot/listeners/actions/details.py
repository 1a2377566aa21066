from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.actions.lookup import recent_or_explain
from bot.render.details import details_text, render_details
from bot.services import Services


async def on_details(
    ack: AsyncAck,
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Post every arm, metric and the Bayesian view in the card's thread."""
    await ack()
    entry = await recent_or_explain(action, services, respond)
    if entry is None:
        return
    await client.chat_postMessage(
        channel=entry.channel,
        thread_ts=entry.thread_ts,
        text=details_text(entry.analysis),
        blocks=render_details(entry.analysis),
    )
