"""Shared look of every chart: palette, fonts, sizes, text safety and PNG output.

Charts are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas attached
directly, never through ``pyplot``: no global figure registry, so rendering is safe in worker
threads (the bot renders off the event loop).
"""

from __future__ import annotations

import base64
import functools
import io
import unicodedata

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

DPI = 100
"""9-inch-wide figures come out 900 px wide: Slack shows them without downscaling much."""
WIDTH_IN = 9.0
FONT_PT = 11
SMALL_PT = 10

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common
# colour-vision deficiency. Status is also carried by marker shape and by words.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

STATUS_COLOURS = {
    "significant_up": OKABE_ITO["bluish_green"],
    "significant_down": OKABE_ITO["vermillion"],
    "not_significant": OKABE_ITO["blue"],
    "ok": OKABE_ITO["sky_blue"],
    "worsened": OKABE_ITO["orange"],
    "severe": OKABE_ITO["vermillion"],
    "secondary": OKABE_ITO["grey"],
    "margin": OKABE_ITO["reddish_purple"],
}
"""Colour of a forest-plot row by its status (primary, guardrail or secondary)."""

STATUS_MARKERS = {
    "significant_up": "D",
    "significant_down": "D",
    "not_significant": "D",
    "ok": "o",
    "worsened": "^",
    "severe": "X",
    "secondary": "s",
}

ELLIPSIS = "…"


def new_figure(height_in: float, *, width_in: float = WIDTH_IN) -> Figure:
    """A figure with the Agg canvas attached (no pyplot state), a whole number of pixels tall."""
    height_in = round(height_in * DPI) / DPI
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """Render a figure to PNG bytes at the chart DPI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,…`` for embedding a PNG in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def plain(text: str) -> str:
    """Text from a CSV shown literally: ``$`` would otherwise start matplotlib mathtext, and a
    character the font lacks (an emoji) is drawn as □ instead of a warning and an empty box."""
    glyphs = _glyphs()
    out = []
    for char in str(text):
        if unicodedata.category(char)[0] == "C":
            out.append(" " if char in "\t\n\r" else "")
        elif ord(char) not in glyphs:
            out.append("□")
        else:
            out.append(r"\$" if char == "$" else char)
    return "".join(out)


@functools.cache
def _glyphs() -> frozenset[int]:
    """Code points of the chart font (DejaVu Sans, matplotlib's default)."""
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    return frozenset(FT2Font(path).get_charmap())


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + ELLIPSIS


def message_figure(title: str, lines: list[str]) -> Figure:
    """A figure that says why there is nothing to plot, instead of an empty axis."""
    height = 1.2 + 0.3 * len(lines)
    figure = new_figure(height)
    figure.text(0.012, 1 - 0.35 / height, plain(title), fontsize=14, weight="bold", va="top")
    for i, line in enumerate(lines):
        y = 1 - (0.95 + 0.3 * i) / height
        figure.text(0.012, y, plain(shorten(line, 110)), fontsize=FONT_PT, va="top")
    figure.set_gid("message")
    return figure
