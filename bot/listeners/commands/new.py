from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.charter_modal import charter_modal


async def run_new(
    *, ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, **_: Any
) -> None:
    """Open the charter modal (the trigger id is valid for 3 s: ack, then open at once)."""
    await ack()
    await client.views_open(
        trigger_id=command["trigger_id"],
        view=charter_modal(channel_id=command["channel_id"], user_id=command["user_id"]),
    )
