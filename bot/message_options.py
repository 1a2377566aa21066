"""Options typed in the message that carries a CSV (``name: Checkout v2`` …), as the core reads them."""

from __future__ import annotations

import re

from bot.render.format import unescape
from experimentos.model import InferenceMethod, Options

_METHOD_LINE = re.compile(r"^\s*method\s*[:=]\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)
_LOOK_LINE = re.compile(r"^\s*(look|of)\s*[:=]\s*\S", re.IGNORECASE | re.MULTILINE)
_GROUP_SEQUENTIAL = {"group-sequential", "group sequential"}


def message_options(text: str | None) -> Options:
    """Parse Slack message text into Options; raises ExperimentError on bad values.

    Slack delivers ``&``, ``<`` and ``>`` escaped and links as ``<url|label>``; undo both so
    ``name: A & B`` reads as the user typed it. ``method: group-sequential`` without ``look:``
    and ``of:`` lines is left to the thread's charter, whose planned looks it asks for
    (:func:`message_method`).
    """
    from experimentos.options import parse_message_options

    plain = _plain(text or "")
    if _group_sequential(plain) and not _LOOK_LINE.search(plain):
        plain = _METHOD_LINE.sub("", plain)
    return parse_message_options(plain)


def message_method(text: str | None) -> InferenceMethod | None:
    """The inference method a ``method:`` line names; None when the message names none (the
    thread's charter then decides). Raises ExperimentError on an unknown method."""
    from experimentos.options import parse_message_options

    plain = _plain(text or "")
    if _group_sequential(plain):
        return "group-sequential"
    named = _named_method(plain)
    if named is None:
        return None
    return parse_message_options(f"method: {named}").method


def _named_method(plain: str) -> str | None:
    values = [m.group(1) for m in _METHOD_LINE.finditer(plain) if m.group(1)]
    return values[-1] if values else None


def _group_sequential(plain: str) -> bool:
    named = _named_method(plain)
    if named is None:
        return False
    return " ".join(named.lower().replace("_", "-").split()) in _GROUP_SEQUENTIAL


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
