from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.render import messages


async def on_record_decision(ack: AsyncAck, respond: AsyncRespond) -> None:
    """Placeholder until the history feature records who decided what, and when."""
    await ack()
    text, blocks = messages.record_decision_pending()
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
