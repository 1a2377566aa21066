"""Number and label formatting shared by every renderer, so the memo, CLI and card say the same thing."""

from __future__ import annotations

import json
import math
import re


def pp(value: float, *, digits: int = 2) -> str:
    """A difference of rates in percentage points: 0.0123 → '+1.23 pp'."""
    return "n/a" if not math.isfinite(value) else f"{value * 100:+.{digits}f} pp"


def pct(value: float | None, *, digits: int = 1, signed: bool = True) -> str:
    """A ratio as a percentage: 0.051 → '+5.1%' (or '5.1%' unsigned)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:+.{digits}f}%" if signed else f"{value * 100:.{digits}f}%"


def rate(value: float, *, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def pvalue(value: float) -> str:
    if not math.isfinite(value):
        return "p = n/a"
    if value < 0.0001:
        return "p < 0.0001"
    return f"p = {value:.4f}" if value < 0.01 else f"p = {value:.3f}"


def small_p(value: float, *, digits: int = 2) -> str:
    """A probability threshold written out in full with ``digits`` significant digits, however
    small: 0.0000011 → '0.0000011', 0.0412 → '0.041', 0.00001 → '0.00001' (never '0.00000' nor
    '1e-05', which readers take for zero or cannot read)."""
    if not math.isfinite(value):
        return "n/a"
    if value <= 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(value)), 0)
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: float, *, digits: int = 3) -> str:
    """A mean or a plain figure, with thousands separators and sensible precision."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def signed_number(value: float) -> str:
    """``+1.5`` or ``-1.5``; ``n/a`` (never ``+n/a``) when there is no number."""
    text = number(value)
    return text if value < 0 or text == "n/a" else "+" + text


def delta(value: float, kind: str) -> str:
    """A metric's absolute lift in its units: pp for a proportion, the metric's own units (a
    signed number) for a mean or a ratio."""
    return pp(value) if kind == "proportion" else signed_number(value)


def level(value: float, kind: str) -> str:
    """A metric's value in one arm: a rate for a proportion, else a number."""
    return rate(value) if kind == "proportion" else number(value)


def interval(low: float, high: float, fmt=pp) -> str:  # type: ignore[no-untyped-def]
    return f"[{fmt(low)}, {fmt(high)}]"


# --------------------------------------------------------------------------- labels for display

LABEL_CHARS = 100
"""A label (arm, metric, column, experiment or file name) is shown in at most this many characters."""
TEXT_CHARS = 600
"""A sentence that may quote labels (a finding, a reason, an action) is shown in at most this many."""
ELLIPSIS = "…"
FORMULA_START = frozenset("=+-@")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV/formula injection)."""

_LINE_BREAKS = re.compile("[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]")
_HIDDEN = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
"""C0 and C1 control characters (terminal escape sequences start with ESC or CSI) and the bidi
marks, embeddings, overrides and isolates that make text display in another order."""


def strip_hidden(text: str) -> str:
    """``text`` without control and bidi characters (line breaks kept); linear in its length."""
    return _HIDDEN.sub("", text)


def display_text(text: object, *, limit: int = TEXT_CHARS) -> str:
    """``text`` as any renderer may show it: control and bidi characters removed, line breaks and
    tabs made spaces, at most ``limit`` characters (ending in an ellipsis when cut).

    Linear in ``limit``, not in the text: only the first ``2 × limit`` characters are read. The
    full text stays in the JSON result; this is for display only.
    """
    raw = str(text)
    head = raw[: 2 * limit]
    clean = _HIDDEN.sub("", _LINE_BREAKS.sub(" ", head))
    if len(clean) > limit or len(raw) > len(head):
        clean = clean[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return clean


def display_label(text: object, *, limit: int = LABEL_CHARS) -> str:
    """A label from a CSV or a user, safe to show anywhere: :func:`display_text` at the label
    length, and an apostrophe before a leading ``=``, ``+``, ``-`` or ``@`` so that a table cell
    pasted into a spreadsheet is text, never a formula. Renderers escape for their markup after."""
    clean = display_text(text, limit=limit)
    return "'" + clean if clean.lstrip()[:1] in FORMULA_START else clean


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw but a terminal would act on (it escapes C0)."""


def json_document(data: object) -> str:
    """``data`` as indented JSON with every string whole; DEL, C1 controls, line separators and
    bidi controls written as ``\\uXXXX`` escapes (the same string to a JSON reader), so printing
    the document to a terminal is harmless."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
