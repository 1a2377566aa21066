from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.files import upload_memo
from bot.listeners.commands.lookup import latest_look_or_explain
from bot.render import listings as history
from bot.render.format import esc
from bot.render.messages import memo_comment
from bot.services import Services
from bot.stored_looks import memo_documents


async def run_memo(
    *,
    ack: AsyncAck,
    respond: AsyncRespond,
    args: str,
    command: dict[str, Any],
    client: AsyncWebClient,
    services: Services,
    **_: Any,
) -> None:
    """Upload the latest look's memo, ending with the decision audit trail, to the thread."""
    await ack()
    found = await latest_look_or_explain(args, command, respond, services)
    if found is None:
        return
    experiment, look = found
    team = command["team_id"]
    markdown, html = await memo_documents(services, team, look)
    channel = look.channel if look.thread_ts else command["channel_id"]
    await upload_memo(
        client,
        channel=channel,
        thread_ts=look.thread_ts,
        name=experiment.name,
        markdown=markdown,
        html=html,
        comment=memo_comment(experiment.name),
    )
    text, blocks = history.done(f"Uploaded the memo of `{esc(experiment.ref)}` to its thread.")
    await respond(text=text, blocks=blocks, response_type="ephemeral")
