"""``/experiment <subcommand> …``: dispatch to one function per subcommand.

To add a subcommand, write ``async def run_x(*, ack, respond, args, name, services)`` in its own
module and add it to SUBCOMMANDS. The history issue replaces the ``not_yet`` entries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.listeners.commands.help import run_help
from bot.listeners.commands.not_yet import run_not_yet
from bot.listeners.commands.power import run_power
from bot.services import Services

Subcommand = Callable[..., Awaitable[None]]

HISTORY_SUBCOMMANDS = ("history", "show", "memo", "new", "backlog", "status")

SUBCOMMANDS: dict[str, Subcommand] = {
    "": run_help,
    "help": run_help,
    "power": run_power,
    **dict.fromkeys(HISTORY_SUBCOMMANDS, run_not_yet),
}


async def on_experiment(
    ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, services: Services
) -> None:
    name, _, args = str(command.get("text") or "").strip().partition(" ")
    name = name.lower()
    subcommand = SUBCOMMANDS.get(name, run_help)
    await subcommand(ack=ack, respond=respond, args=args.strip(), name=name, services=services)
