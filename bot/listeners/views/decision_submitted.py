from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.decisions import decision_from_modal
from bot.render.decision import decision_recorded
from bot.services import Services


async def on_decision_submitted(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
) -> None:
    """Record who decided what; against the verdict without a reason, say so in the modal."""
    outcome = await decision_from_modal(
        services.store, context.team_id or "", view, user_id=body["user"]["id"]
    )
    if outcome.errors:
        await ack(response_action="errors", errors=outcome.errors)
        return
    await ack()
    assert outcome.decision is not None and outcome.experiment is not None
    if outcome.channel:
        text, blocks = decision_recorded(outcome.decision, ref=outcome.experiment.ref)
        await client.chat_postMessage(
            channel=outcome.channel, thread_ts=outcome.thread_ts, text=text, blocks=blocks
        )
