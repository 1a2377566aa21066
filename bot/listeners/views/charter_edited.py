"""A submitted charter edit (``/experiment edit``): validated, saved, and told in the thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.charter_edit import save_edit
from bot.charter_form import parse_charter_form
from bot.render.charter_edit import charter_edited
from bot.services import Services


async def on_charter_edited(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
) -> None:
    """Validate as ``/experiment new`` does (errors stay in the modal), save, then tell the
    experiment's thread what changed; an edit that changed nothing just closes the modal."""
    user_id = body["user"]["id"]
    charter, errors = parse_charter_form(view["state"]["values"])
    if charter is None:
        await ack(response_action="errors", errors=errors)
        return
    outcome = await save_edit(
        services, charter, team_id=context.team_id or "", view=view, user_id=user_id
    )
    if outcome.errors:
        await ack(response_action="errors", errors=outcome.errors)
        return
    await ack()
    experiment = outcome.experiment
    if not outcome.changes or experiment is None:
        return
    text, blocks = charter_edited(outcome.changes, ref=experiment.ref, user_id=user_id)
    await client.chat_postMessage(
        channel=experiment.channel_id, thread_ts=experiment.thread_ts, text=text, blocks=blocks
    )
