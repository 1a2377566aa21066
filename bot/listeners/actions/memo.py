from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.files import upload_memo
from bot.listeners.actions.lookup import look_or_explain
from bot.render.messages import memo_comment
from bot.services import Services
from bot.stored_looks import memo_documents


async def on_memo(
    ack: AsyncAck,
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    """Upload the stored look's memo (Markdown and HTML, with the audit trail) into its thread."""
    await ack()
    look = await look_or_explain(action, context.team_id, services, respond)
    if look is None:
        return
    markdown, html = await memo_documents(services, context.team_id or "", look)
    name = look.analysis.experiment.name
    await upload_memo(
        client,
        channel=look.channel,
        thread_ts=look.thread_ts,
        name=name,
        markdown=markdown,
        html=html,
        comment=memo_comment(name),
    )
