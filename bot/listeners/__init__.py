"""Every listener, one folder per kind of Slack request."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events, home, views


def register(app: AsyncApp) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    home.register(app)
    events.register(app)  # last: its catch-all `message` listener must come after the others
