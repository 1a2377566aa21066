"""Options typed in the message that carries a CSV (``name: Checkout v2`` …), as the core reads them."""

from __future__ import annotations

from bot.render.format import unescape
from experimentos.model import Options


def message_options(text: str | None) -> Options:
    """Parse Slack message text into Options; raises ExperimentError on bad values.

    Slack delivers ``&``, ``<`` and ``>`` escaped and links as ``<url|label>``; undo both so
    ``name: A & B`` reads as the user typed it.
    """
    from experimentos.options import parse_message_options

    return parse_message_options(_plain(text or ""))


def _plain(text: str) -> str:
    out = []
    rest = text
    while "<" in rest and ">" in rest[rest.index("<") :]:
        start = rest.index("<")
        end = rest.index(">", start)
        out.append(rest[:start])
        inner = rest[start + 1 : end]
        out.append(inner.split("|", 1)[1] if "|" in inner else inner)
        rest = rest[end + 1 :]
    out.append(rest)
    return unescape("".join(out))
