from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.home import render_home
from bot.services import Services


async def on_app_home_opened(
    event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, services: Services
) -> None:
    if event.get("tab", "home") != "home":
        return
    recent = await services.store.recent_for_team(context.team_id or "", limit=15)
    await client.views_publish(user_id=event["user"], view=render_home(recent))
