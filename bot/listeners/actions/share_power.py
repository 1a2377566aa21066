from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.render.power import power_text, render_power
from bot.services import Services


async def on_share_power(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Post a sample-size answer for everyone (response_url: works without channel membership)."""
    await ack()
    command_text = str(action.get("value") or "")
    request, plan = await services.plan_power(command_text)
    await respond(
        text=power_text(plan),
        blocks=render_power(request, plan, command_text=command_text, shared_by=body["user"]["id"]),
        response_type="in_channel",
        replace_original=False,
    )
