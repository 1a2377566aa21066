from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.events.file_share import on_file_share
from bot.listeners.events.file_shared import on_file_shared
from bot.listeners.events.ignore_message import ignore_message
from bot.listeners.guard import guarded


def register(app: AsyncApp) -> None:
    app.event({"type": "message", "subtype": "file_share"})(guarded(on_file_share))
    app.event("file_shared")(guarded(on_file_shared))
    # Acknowledge every other message event (Bolt answers unhandled events with 404).
    app.event("message")(guarded(ignore_message))
