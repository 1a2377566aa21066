from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.actions.lookup import look_or_explain
from bot.render.decision import decision_modal
from bot.services import Services


async def on_record_decision(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Open the decision modal for the card's look (the trigger id lives 3 s: look it up fast)."""
    await ack()
    look = await look_or_explain(action, context.team_id, services, respond)
    if look is None:
        return
    await client.views_open(
        trigger_id=body["trigger_id"],
        view=decision_modal(
            analysis_id=look.record.id,
            ref=look.experiment.ref,
            name=look.experiment.name,
            look=look.record.look,
            verdict=look.analysis.verdict,
        ),
    )
