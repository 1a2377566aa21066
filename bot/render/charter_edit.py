"""The thread's line after ``/experiment edit``: who edited the charter and what changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from slack_sdk.models.blocks import Block

from bot.audit import FIELD_LABELS, FieldChange, rice_parts, value_text
from bot.render import blocks as b
from bot.render.charter_modal import method_text, schedule_text
from bot.render.format import esc, truncate
from bot.render.limits import MAX_FALLBACK_TEXT
from bot.render.people import user
from experimentos.charter import Rice

Message = tuple[str, list[Block]]
LABELS = {
    **FIELD_LABELS,
    "target_segment": "target segment",
    "start_date": "start date",
    "end_date": "end date",
    "rice": "RICE",
    "source_env": "data source variable",
    "source_query": "data source query",
    "source_platform": "platform experiment",
    "refresh_schedule": "refresh schedule",
}
VALUE_CHARS = 150
"""Each old and new value is cut to this: the line says what changed, the charter holds it all."""


def charter_edited(changes: Sequence[FieldChange], *, ref: str, user_id: str) -> Message:
    """``:pencil2: <@U1> edited the charter of `EXP-3`: primary metric conversions → *revenue*``,
    then which of the changes are recorded as made after looks started."""
    lines = [f":pencil2: {user(user_id)} edited the charter of `{esc(ref)}`:"]
    lines += [
        f"• {esc(_label(c.field))}: {_value(c, c.old)} → *{_value(c, c.new)}*" for c in changes
    ]
    parts: list[Block] = [b.section("\n".join(lines))]
    recorded = [_label(c.field) for c in changes if c.recorded]
    if recorded:
        parts.append(
            b.context(
                f":lock: Recorded as changed after looks started: {esc(', '.join(recorded))} "
                "(the card and the memo show it)."
            )
        )
    fields = ", ".join(_label(c.field) for c in changes)
    text = truncate(f"{ref} charter edited: {esc(fields)}", MAX_FALLBACK_TEXT)
    return text, parts


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _value(change: FieldChange, value: Any) -> str:
    """A field's value on one line, escaped (users as mentions, which Slack shows by name)."""
    if value is None or value == ():
        return "decided by the plan" if change.field == "method" else "none"
    if change.field == "owner":
        return user(value)
    return esc(truncate(" ".join(_text(change.field, value).split()), VALUE_CHARS))


def _text(name: str, value: Any) -> str:
    if name == "method":
        return method_text(value, planned=False)
    if name == "refresh_schedule":
        return schedule_text(value)
    if isinstance(value, Rice):
        return f"score {value.score:,.0f} ({rice_parts(value)})"
    if isinstance(value, date):
        return value.isoformat()
    return value_text(name, value)
