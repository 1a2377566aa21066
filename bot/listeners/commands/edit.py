"""``/experiment edit EXP-n``: the charter modal, pre-filled with the stored charter."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.charter_edit import edit_refusal
from bot.charter_form import charter_form_texts
from bot.listeners.commands.lookup import experiment_or_explain
from bot.render.charter_modal import charter_edit_modal
from bot.render.format import esc
from bot.services import Services


async def run_edit(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Open the modal (the trigger id is valid for 3 s: one lookup, then open at once)."""
    await ack()
    experiment = await experiment_or_explain(args, command, respond, services, usage="EXP-n")
    if experiment is None:
        return
    refused = edit_refusal(experiment, channel_id=command["channel_id"])
    if refused is not None:
        await respond(text=f":no_entry: {esc(refused)}", response_type="ephemeral")
        return
    view = charter_edit_modal(experiment, charter_form_texts(experiment.charter))
    await client.views_open(trigger_id=command["trigger_id"], view=view)
