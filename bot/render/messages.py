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


def not_available(subcommand: str) -> Message:
    text = (
        f"`/experiment {esc(subcommand)}` needs the experiment history, which isn't available yet. "
        "For now, drop a CSV in a channel for a verdict, or use `/experiment power`."
    )
    return text, [b.section(text)]


def analysis_expired(capacity: int) -> Message:
    text = (
        "This card's analysis is no longer in my memory (I keep the last "
        f"{capacity} analyses until the history feature arrives, and a restart clears them). "
        "Upload the CSV again to get its memo and details."
    )
    return text, [b.section(f":hourglass: {text}")]


def record_decision_pending() -> Message:
    text = (
        "Recording decisions comes with the history feature. Until then, write the decision "
        "(who, what, why) as a reply in this thread."
    )
    return text, [b.section(f":memo: {text}")]


def memo_comment(name: str) -> str:
    return f":page_facing_up: Decision memo for *{esc(name)}* (Markdown and HTML)."
