"""Fonts and text for the PDF memo: a Unicode TrueType family, and literal text made safe.

Every piece of text reaches reportlab's paragraph markup only through :func:`markup_text`,
which escapes ``& < > "`` (so a CSV label such as ``<b>`` or ``<!channel>`` prints literally),
drops control characters and replaces glyphs the font lacks: the memo's emoji become coloured
symbols of the same meaning, anything else a box, so no memo can break the PDF.
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FAMILY = "MemoSans"
_FONT_FILES = {
    "dejavu": (
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-BoldOblique.ttf",
    ),
    "vera": ("Vera.ttf", "VeraBd.ttf", "VeraIt.ttf", "VeraBI.ttf"),
}
_SYMBOLS = {
    "🟢": ("●", "#009E73"),
    "🟡": ("●", "#E69F00"),
    "🔴": ("●", "#D55E00"),
    "✅": ("✓", "#009E73"),
    "⚠": ("⚠", "#E69F00"),
    "⛔": ("✖", "#D55E00"),
}
"""The memo's emoji (no PDF font has colour emoji) as coloured symbols of the same meaning."""


@dataclass(frozen=True, slots=True)
class Fonts:
    regular: str
    bold: str
    glyphs: frozenset[int]


@functools.cache
def load_fonts() -> Fonts:
    """Register a Unicode TrueType family once: DejaVu Sans (ships with matplotlib, or the
    system's), else reportlab's own Bitstream Vera."""
    for kind, directory in _font_directories():
        paths = [directory / name for name in _FONT_FILES[kind]]
        if all(p.is_file() for p in paths):
            break
    else:  # pragma: no cover - reportlab always ships Vera
        raise RuntimeError("no TrueType font found for the PDF memo")
    faces = ("", "-Bold", "-Italic", "-BoldItalic")
    registered = [TTFont(FAMILY + face, str(path)) for face, path in zip(faces, paths, strict=True)]
    for font in registered:
        pdfmetrics.registerFont(font)
    pdfmetrics.registerFontFamily(
        FAMILY,
        normal=FAMILY,
        bold=FAMILY + "-Bold",
        italic=FAMILY + "-Italic",
        boldItalic=FAMILY + "-BoldItalic",
    )
    return Fonts(FAMILY, FAMILY + "-Bold", frozenset(registered[0].face.charToGlyph))


def _font_directories() -> list[tuple[str, Path]]:
    found = []
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        found.append(("dejavu", Path(spec.submodule_search_locations[0], "mpl-data/fonts/ttf")))
    found.append(("dejavu", Path("/usr/share/fonts/truetype/dejavu")))
    reportlab_spec = importlib.util.find_spec("reportlab")
    if reportlab_spec and reportlab_spec.submodule_search_locations:
        found.append(("vera", Path(reportlab_spec.submodule_search_locations[0], "fonts")))
    return found


def markup_text(text: str, fonts: Fonts) -> str:
    """Literal text → reportlab paragraph markup: escaped, printable, glyphs the font has."""
    out = []
    for char in text:
        if char in _SYMBOLS and ord(_SYMBOLS[char][0]) in fonts.glyphs:
            symbol, colour = _SYMBOLS[char]
            out.append(f'<font color="{colour}">{symbol}</font>')
        else:
            out.append(_escape_char(_printable(char, fonts)))
    return "".join(out)


def plain_text(text: str, fonts: Fonts) -> str:
    """Literal text for canvas strings and metadata (no markup): printable glyphs only."""
    return "".join(_printable(char, fonts) for char in text)


def _printable(char: str, fonts: Fonts) -> str:
    if char in "\t\n\r":
        return " "
    if unicodedata.category(char)[0] == "C" or char in "\ufe0f\u200d":
        return ""
    if ord(char) in fonts.glyphs:
        return char
    return "□" if ord("□") in fonts.glyphs else "?"


def _escape_char(char: str) -> str:
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}.get(char, char)
