from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.render.power_reply import power_text, render_power
from bot.services import Services


async def run_power(
    *, ack: AsyncAck, respond: AsyncRespond, args: str, services: Services, **_: Any
) -> None:
    """Ack at once, then answer ephemerally; bad values reach the user via the error handler."""
    await ack()
    request, plan = await services.plan_power(args)
    await respond(
        text=power_text(plan),
        blocks=render_power(request, plan, command_text=args),
        response_type="ephemeral",
    )
