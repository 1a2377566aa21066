"""Which environment variables a charter may name as its data source: only those the bot's
operator lists in ``EXPERIMENTOS_SOURCES``.

A charter is written by anyone in the workspace, but the variable it names is read in the bot's
own environment, next to the bot token and the history database's URL. Without a list, a charter
naming ``DATABASE_URL`` would run its query on the history of every team the bot serves. The list
is read at each use, so an operator may widen it without losing the charters already saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from experimentos.platforms import DISPLAY, VARIABLES

SOURCES_VARIABLE = "EXPERIMENTOS_SOURCES"
"""Comma- or space-separated names of the variables holding warehouse URLs, e.g. WAREHOUSE_URL."""


def allowed_sources(environ: Mapping[str, str]) -> frozenset[str]:
    return frozenset(n for n in re.split(r"[\s,]+", environ.get(SOURCES_VARIABLE, "")) if n)


def refusal(name: str, environ: Mapping[str, str]) -> str | None:
    """None when ``name`` may be read as a data source, else one line saying how to allow it
    (plain text: the caller escapes it for mrkdwn)."""
    if name in allowed_sources(environ):
        return None
    return (
        f"{name} is not a data source this bot may read: its operator lists the variables "
        f"that hold warehouse URLs in {SOURCES_VARIABLE} (README: Saved sources)."
    )


def platform_refusal(platform: str, environ: Mapping[str, str]) -> str | None:
    """None when the platform's API key is set in ``environ``, else the mrkdwn line saying which
    variable to set (``/experiment pull`` and a platform charter source both need it)."""
    variable = VARIABLES[platform][0]
    if environ.get(variable):
        return None
    return f"{DISPLAY[platform]} is not connected: set `{variable}` in the bot's environment."
