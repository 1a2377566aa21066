from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.uploads import handle_upload, mark_seen_by_message, upload_from_message


async def on_file_share(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, services: Services
) -> None:
    """A message with files: analyse each CSV and answer in the message's thread."""
    upload = upload_from_message(event, context.team_id)
    mark_seen_by_message(services, upload)
    await handle_upload(services, client, upload)
