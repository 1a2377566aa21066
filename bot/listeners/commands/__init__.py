from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.experiment import on_experiment
from bot.listeners.guard import guarded


def register(app: AsyncApp) -> None:
    app.command("/experiment")(guarded(on_experiment))
