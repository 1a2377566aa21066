"""Find the stored look a card's button refers to (its analysis id is in the button's value)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.render import messages
from bot.services import Services
from bot.stored_looks import StoredLook, load_look, parse_key


async def look_or_explain(
    action: dict[str, Any], team_id: str | None, services: Services, respond: AsyncRespond
) -> StoredLook | None:
    """The look, or None after telling the user (ephemerally) that it is not in the history."""
    try:
        key = parse_key(json.loads(action.get("value") or "{}").get("k"))
    except (ValueError, AttributeError):
        key = None
    look = await load_look(services.store, team_id or "", key) if key is not None else None
    if look is None:
        text, blocks = messages.analysis_not_found()
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    return look
