from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.render.help import HELP_TEXT, help_dicts, render_help


async def run_help(*, ack: AsyncAck, name: str, **_: Any) -> None:
    """Help is the acknowledgement itself: no work, no second request."""
    if name in ("", "help"):
        await ack(text=HELP_TEXT, blocks=list(help_dicts()), response_type="ephemeral")
    else:
        await ack(text=HELP_TEXT, blocks=render_help(unknown=name), response_type="ephemeral")
