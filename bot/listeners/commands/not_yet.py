from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.render import messages


async def run_not_yet(*, ack: AsyncAck, name: str, **_: Any) -> None:
    text, blocks = messages.not_available(name)
    await ack(text=text, blocks=blocks, response_type="ephemeral")
