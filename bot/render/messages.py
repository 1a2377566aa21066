"""Small messages: placeholders, errors and notices. Each returns (text, blocks)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render.format import esc

Message = tuple[str, list[Block]]


def analysing(file_name: str) -> Message:
    text = f":hourglass_flowing_sand: Analysing `{esc(file_name)}`…"
    return text, [b.context(text)]


def problem(text: str, *, file_name: str | None = None, error_id: str | None = None) -> Message:
    """A user-facing problem; ``text`` is plain text and is escaped here."""
    subject = f"I couldn't analyse `{esc(file_name)}`: " if file_name else ""
    body = f":warning: {subject}{esc(text)}"
    parts: list[Block] = [b.section(body)]
    if error_id:
        parts.append(b.context(f"Error id `{esc(error_id)}` (quote it when you report this)."))
    return body, parts


def analysis_not_found() -> Message:
    text = (
        "I can't find this card's analysis in the history (the card may be older than the "
        "history, or from another workspace). Upload the CSV again to get its memo and details."
    )
    return text, [b.section(f":mag: {text}")]


def memo_comment(name: str) -> str:
    return f":page_facing_up: Decision memo for *{esc(name)}* (Markdown and HTML)."
