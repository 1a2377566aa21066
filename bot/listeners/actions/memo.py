from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.files import upload_memo
from bot.listeners.actions.lookup import recent_or_explain
from bot.render.messages import memo_comment
from bot.services import Services


async def on_memo(
    ack: AsyncAck,
    action: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Upload the decision memo (Markdown and HTML) into the card's thread."""
    await ack()
    entry = await recent_or_explain(action, services, respond)
    if entry is None:
        return
    markdown, html = await services.memo_documents(entry.analysis)
    name = entry.analysis.experiment.name
    await upload_memo(
        client,
        channel=entry.channel,
        thread_ts=entry.thread_ts,
        name=name,
        markdown=markdown,
        html=html,
        comment=memo_comment(name),
    )
