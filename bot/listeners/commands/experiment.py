"""``/experiment <subcommand> …``: dispatch to one function per subcommand.

To add a subcommand, write ``async def run_x(*, ack, respond, args, name, command, client,
services)`` in its own module (take ``**_`` for what it does not use) and add it to SUBCOMMANDS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.commands.backlog import run_backlog
from bot.listeners.commands.edit import run_edit
from bot.listeners.commands.help import run_help
from bot.listeners.commands.history import run_history
from bot.listeners.commands.memo import run_memo
from bot.listeners.commands.new import run_new
from bot.listeners.commands.power import run_power
from bot.listeners.commands.pull import run_pull
from bot.listeners.commands.refresh import run_refresh
from bot.listeners.commands.show import run_show
from bot.listeners.commands.status import run_status
from bot.services import Services

Subcommand = Callable[..., Awaitable[None]]

SUBCOMMANDS: dict[str, Subcommand] = {
    "": run_help,
    "help": run_help,
    "power": run_power,
    "history": run_history,
    "show": run_show,
    "memo": run_memo,
    "new": run_new,
    "edit": run_edit,
    "backlog": run_backlog,
    "status": run_status,
    "refresh": run_refresh,
    "pull": run_pull,
}


async def on_experiment(
    ack: AsyncAck,
    command: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    name, _, args = str(command.get("text") or "").strip().partition(" ")
    name = name.lower()
    subcommand = SUBCOMMANDS.get(name, run_help)
    await subcommand(
        ack=ack,
        respond=respond,
        args=args.strip(),
        name=name,
        command=command,
        client=client,
        services=services,
    )
