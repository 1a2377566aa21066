"""Find the experiment a subcommand names (``EXP-3``, ``3`` or a name), or say why not."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.experiments import find_experiment
from bot.render import listings as history
from bot.services import Services
from bot.stored_looks import StoredLook, latest_look
from experimentos.store import ExperimentRecord


async def experiment_or_explain(
    ref: str,
    command: dict[str, Any],
    respond: AsyncRespond,
    services: Services,
    *,
    usage: str,
) -> ExperimentRecord | None:
    subcommand = str(command.get("text") or "").split(" ", 1)[0].lower()
    if not ref.strip():
        text, blocks = history.needs_ref(subcommand, usage)
    else:
        experiment = await find_experiment(
            services.store, command["team_id"], ref, channel_id=command["channel_id"]
        )
        if experiment is not None:
            return experiment
        text, blocks = history.not_found(ref)
    await respond(text=text, blocks=blocks, response_type="ephemeral")
    return None


async def latest_look_or_explain(
    ref: str, command: dict[str, Any], respond: AsyncRespond, services: Services
) -> tuple[ExperimentRecord, StoredLook] | None:
    """The named experiment and its latest look, or an ephemeral answer saying why not."""
    experiment = await experiment_or_explain(ref, command, respond, services, usage="EXP-n|name")
    if experiment is None:
        return None
    look = await latest_look(services.store, command["team_id"], experiment)
    if look is None:
        text, blocks = history.no_looks_yet(experiment)
        await respond(text=text, blocks=blocks, response_type="ephemeral")
        return None
    return experiment, look
