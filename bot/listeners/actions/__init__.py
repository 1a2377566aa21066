from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.actions.details import on_details
from bot.listeners.actions.memo import on_memo
from bot.listeners.actions.record_decision import on_record_decision
from bot.listeners.actions.share_power import on_share_power
from bot.listeners.guard import guarded
from bot.render.card import ACTION_DETAILS, ACTION_MEMO, ACTION_RECORD
from bot.render.power_reply import ACTION_SHARE


def register(app: AsyncApp) -> None:
    app.action(ACTION_MEMO)(guarded(on_memo))
    app.action(ACTION_DETAILS)(guarded(on_details))
    app.action(ACTION_RECORD)(guarded(on_record_decision))
    app.action(ACTION_SHARE)(guarded(on_share_power))
