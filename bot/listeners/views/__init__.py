from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.guard import guarded
from bot.listeners.views.charter_edited import on_charter_edited
from bot.listeners.views.charter_submitted import on_charter_submitted
from bot.listeners.views.decision_submitted import on_decision_submitted
from bot.render.charter_modal import CALLBACK_CHARTER, CALLBACK_CHARTER_EDIT
from bot.render.decision import CALLBACK_DECISION


def register(app: AsyncApp) -> None:
    app.view(CALLBACK_CHARTER)(guarded(on_charter_submitted))
    app.view(CALLBACK_CHARTER_EDIT)(guarded(on_charter_edited))
    app.view(CALLBACK_DECISION)(guarded(on_decision_submitted))
