"""Block Kit limits that slack_sdk does not check on ``to_dict()``, and a graceful fit.

Constructors in :mod:`bot.render.blocks` truncate text at build time, so the only limits left for
:func:`fit_message` are the number of blocks and the one-table-per-message rule.
:func:`problems` checks everything and is what the tests assert on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    MarkdownTextObject,
    TableBlock,
)

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_TABLES = 1
MAX_TABLE_ROWS = 100
MAX_TABLE_CELLS = 20
MAX_FALLBACK_TEXT = 4000


def fit_message(blocks: Sequence[Block], *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[Block]:
    """Keep the first table only and at most ``max_blocks`` blocks, saying what was left out.

    A trailing actions block (the buttons) is always kept.
    """
    kept: list[Block] = []
    tables = 0
    for block in blocks:
        if isinstance(block, TableBlock):
            tables += 1
            if tables > MAX_TABLES:
                kept.append(
                    _note("Another table was left out (Slack shows one table per message).")
                )
                continue
        kept.append(block)
    if len(kept) <= max_blocks:
        return kept
    tail = [kept[-1]] if isinstance(kept[-1], ActionsBlock) else []
    body = kept[: len(kept) - len(tail)]
    room = max_blocks - len(tail) - 1
    omitted = len(body) - room
    note = _note(f"{omitted} more sections left out to fit Slack's limits; the memo has them all.")
    return [*body[:room], note, *tail]


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=f"_{text}_")])


def problems(
    blocks: Sequence[Block | dict[str, Any]], *, max_blocks: int = MAX_MESSAGE_BLOCKS
) -> list[str]:
    """Every violated limit, as readable strings; empty when the message is within limits."""
    dicts = [b.to_dict() if isinstance(b, Block) else b for b in blocks]
    found: list[str] = []
    if len(dicts) > max_blocks:
        found.append(f"{len(dicts)} blocks > {max_blocks}")
    tables = [d for d in dicts if d.get("type") == "table"]
    if len(tables) > MAX_TABLES:
        found.append(f"{len(tables)} tables > {MAX_TABLES}")
    for index, block in enumerate(dicts):
        found.extend(f"block {index}: {p}" for p in _block_problems(block))
    return found


def _block_problems(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return _too_long("header", block["text"]["text"], MAX_HEADER)
    if kind == "section":
        return _section_problems(block)
    if kind == "context":
        elements = block.get("elements", [])
        found = (
            [f"{len(elements)} context elements"] if len(elements) > MAX_CONTEXT_ELEMENTS else []
        )
        for element in elements:
            found += _too_long("context text", element.get("text", ""), MAX_CONTEXT_TEXT)
        return found
    if kind == "actions":
        return _actions_problems(block)
    if kind == "table":
        rows = block.get("rows", [])
        found = [f"{len(rows)} table rows"] if len(rows) > MAX_TABLE_ROWS else []
        return found + [f"{len(r)} cells in a row" for r in rows if len(r) > MAX_TABLE_CELLS]
    return []


def _section_problems(block: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if "text" in block:
        found += _too_long("section text", block["text"]["text"], MAX_SECTION_TEXT)
    fields = block.get("fields", [])
    if len(fields) > MAX_FIELDS:
        found.append(f"{len(fields)} fields")
    for field in fields:
        found += _too_long("field", field["text"], MAX_FIELD)
    if not block.get("text") and not fields:
        found.append("section without text or fields")
    return found


def _actions_problems(block: dict[str, Any]) -> list[str]:
    elements = block.get("elements", [])
    found = [f"{len(elements)} actions"] if len(elements) > MAX_ACTIONS else []
    for element in elements:
        found += _too_long("button text", element.get("text", {}).get("text", ""), MAX_BUTTON_TEXT)
        found += _too_long("button value", element.get("value", ""), MAX_BUTTON_VALUE)
    return found


def _too_long(what: str, text: str, limit: int) -> list[str]:
    return [f"{what} of {len(text)} chars > {limit}"] if len(text) > limit else []
