"""Find the experiment a subcommand names (``EXP-3``, ``3`` or a name), or say why not."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.experiments import find_experiment
from bot.render import history
from bot.services import Services
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
