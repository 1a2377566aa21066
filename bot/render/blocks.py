"""Safe Block Kit constructors: each one truncates its text to Slack's limit at build time.

Callers pass text that is already escaped (mrkdwn) or literal (plain_text and table cells, which
pass through :func:`bot.render.format.literal` here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
    TableBlock,
)

from bot.render import limits
from bot.render.format import literal, truncate


def header(text: str) -> HeaderBlock:
    return HeaderBlock(
        text=PlainTextObject(text=truncate(literal(text), limits.MAX_HEADER), emoji=True)
    )


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, limits.MAX_SECTION_TEXT)))


def fields(texts: Sequence[str], *, intro: str | None = None) -> SectionBlock:
    """A section of up to ten mrkdwn fields (the rest are dropped: keep callers below ten)."""
    objects = [
        MarkdownTextObject(text=truncate(t, limits.MAX_FIELD)) for t in texts[: limits.MAX_FIELDS]
    ]
    text = MarkdownTextObject(text=truncate(intro, limits.MAX_SECTION_TEXT)) if intro else None
    return SectionBlock(text=text, fields=objects)


def context(*texts: str) -> ContextBlock:
    elements = [
        MarkdownTextObject(text=truncate(t, limits.MAX_CONTEXT_TEXT))
        for t in texts[: limits.MAX_CONTEXT_ELEMENTS]
    ]
    return ContextBlock(elements=elements)


def divider() -> DividerBlock:
    return DividerBlock()


def button(
    text: str, *, action_id: str, value: dict[str, Any] | str, style: str | None = None
) -> ButtonElement:
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return ButtonElement(
        text=PlainTextObject(text=truncate(literal(text), limits.MAX_BUTTON_TEXT), emoji=True),
        action_id=action_id,
        value=raw[: limits.MAX_BUTTON_VALUE],
        style=style,
    )


def actions(*elements: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements[: limits.MAX_ACTIONS]), block_id=block_id)


MAX_CELL_TEXT = 200
"""A table cell's text is cut to this many characters (a label is already shortened to 100)."""


def table(rows: Sequence[Sequence[str]], *, right_align_from: int = 1) -> TableBlock:
    """A table of literal text (raw_text cells need no escaping); capped at Slack's size limits."""
    capped = [list(r[: limits.MAX_TABLE_CELLS]) for r in rows[: limits.MAX_TABLE_ROWS]]
    width = max((len(r) for r in capped), default=0)
    cells = [
        [
            {"type": "raw_text", "text": truncate(literal(c), MAX_CELL_TEXT) or " "}
            for c in row + [""] * (width - len(row))
        ]
        for row in capped
    ]
    settings = [
        {"align": "right" if i >= right_align_from else "left"} for i in range(min(width, 20))
    ]
    return TableBlock(rows=cells, column_settings=settings)
