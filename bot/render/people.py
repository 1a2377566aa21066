"""mrkdwn for what people did: a charter change after the first look, a recorded decision.

Users appear as mentions (``<@U123>``: Slack shows their name); everything else is escaped.
"""

from __future__ import annotations

from bot.audit import FIELD_LABELS, OUTCOME_LABELS, VERDICT_LABELS, value_text, when
from bot.render.format import esc
from experimentos.charter import CharterChange, DecisionRecord


def user(user_id: str | None) -> str:
    return f"<@{esc(user_id)}>" if user_id else "someone"


def change_mrkdwn(change: CharterChange) -> str:
    label = FIELD_LABELS.get(change.field, change.field.replace("_", " "))
    return (
        f"{esc(label)} {esc(value_text(change.field, change.old))} → "
        f"*{esc(value_text(change.field, change.new))}* "
        f"(by {user(change.by)}, {when(change.at)})"
    )


def decision_mrkdwn(decision: DecisionRecord, *, ref: str) -> str:
    """``:memo: <@U1> recorded *Launched* for `EXP-3` (the bot said Hold) — “reason”``."""
    outcome = OUTCOME_LABELS.get(decision.decision, decision.decision)
    text = f":memo: {user(decision.user_id)} recorded *{outcome}* for `{esc(ref)}`"
    verdict = VERDICT_LABELS.get(decision.bot_verdict or "")
    if verdict:
        against = ", against the verdict" if decision.against_verdict else ""
        text += f" (the bot said {verdict}{against})"
    if decision.reason:
        text += f" — “{esc(decision.reason)}”"
    return text
