from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.uploads import handle_upload, seen_by_message, upload_from_file_shared


async def on_file_shared(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, services: Services
) -> None:
    """A file was shared. The ``file_share`` message usually covers it (and carries the options);
    wait a moment for it, and answer here only if it never came."""
    if event.get("user_id") == context.bot_user_id:
        return  # our own memo uploads
    await asyncio.sleep(services.settings.file_shared_grace_s)
    if seen_by_message(services, event):
        return
    upload = await upload_from_file_shared(services, client, event, context.team_id)
    if upload is not None:
        await handle_upload(services, client, upload)
