from __future__ import annotations


async def ignore_message() -> None:
    """Plain messages, edits and deletions need no answer, only an acknowledgement."""
