"""Find the analysis a card's button refers to (its key is in the button's value)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.memory import RecentAnalysis
from bot.render import messages
from bot.services import Services


async def recent_or_explain(
    action: dict[str, Any], services: Services, respond: AsyncRespond
) -> RecentAnalysis | None:
    """The cached analysis, or None after telling the user (ephemerally) that it has expired."""
    try:
        key = str(json.loads(action.get("value") or "{}").get("k", ""))
    except (ValueError, AttributeError):
        key = ""
    entry = services.recent.get(key) if key else None
    if entry is None:
        text, blocks = messages.analysis_expired(services.recent.capacity)
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    return entry
