from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.charter_form import parse_charter_form
from bot.experiments import create_charter
from bot.services import Services


async def on_charter_submitted(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
) -> None:
    """Validate in the modal; then create the experiment and post its charter in the channel.

    The modal stays open until the charter is posted, so a refusal (the bot is not in the
    channel) is shown in it too.
    """
    charter, errors = parse_charter_form(view["state"]["values"])
    if charter is None:
        await ack(response_action="errors", errors=errors)
        return
    problem = await create_charter(
        services,
        client,
        charter,
        team_id=context.team_id or "",
        view=view,
        user_id=body["user"]["id"],
    )
    if problem:
        await ack(response_action="errors", errors={"name": problem})
        return
    await ack()
