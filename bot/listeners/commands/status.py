from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.experiments import apply_status, parse_status
from bot.listeners.commands.lookup import experiment_or_explain
from bot.render import decision as render
from bot.render import listings as history
from bot.render.format import esc
from bot.services import Services
from experimentos.store import DecisionReasonRequired


async def run_status(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Record the team's decision (launched | held | rolled-back) or the experiment's status."""
    await ack()
    request = parse_status(args)
    if request is None:
        text, blocks = render.status_usage()
        await respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    experiment = await experiment_or_explain(request.ref, command, respond, services, usage="")
    if experiment is None:
        return
    try:
        decision = await apply_status(
            services.store, command["team_id"], experiment, request, user_id=command["user_id"]
        )
    except DecisionReasonRequired as error:
        text, blocks = render.reason_required(str(error), ref=experiment.ref, outcome=request.state)
        await respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    if decision is not None and experiment.thread_ts:
        text, blocks = render.decision_recorded(decision, ref=experiment.ref)
        await client.chat_postMessage(
            channel=experiment.channel_id, thread_ts=experiment.thread_ts, text=text, blocks=blocks
        )
    done = f"`{esc(experiment.ref)}` {esc(experiment.name)}: recorded *{esc(request.state)}*."
    text, blocks = history.done(done)
    await respond(text=text, blocks=blocks, response_type="ephemeral")
