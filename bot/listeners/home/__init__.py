from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.guard import guarded
from bot.listeners.home.app_home_opened import on_app_home_opened


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(guarded(on_app_home_opened))
