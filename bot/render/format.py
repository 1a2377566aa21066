"""Text helpers for Slack: mrkdwn escaping, truncation and number formatting.

Every string that comes from a CSV, a file name or a user's message goes through :func:`esc` before
it is put in a mrkdwn text; labels also go through
:func:`experimentos.formatting.display_label` (shortened, no control or bidi characters, no
leading formula character). plain_text objects and table cells show text literally: they go
through :func:`literal`, so no copy of a label there reads as a Slack mention either.
"""

from __future__ import annotations

import math
import re

from experimentos.formatting import strip_hidden
from experimentos.model import GuardrailStatus, HealthStatus, Interval, VerdictKind

ELLIPSIS = "…"
LT = "&lt;"
GT = "&gt;"
"""What our own mrkdwn uses for < and > (a bare < may start a Slack control sequence)."""

VERDICT_EMOJI: dict[VerdictKind, str] = {
    "launch": ":rocket:",
    "hold": ":pause_button:",
    "rollback": ":rewind:",
}
HEALTH_BADGE: dict[HealthStatus, str] = {
    "healthy": ":large_green_circle: Healthy",
    "warning": ":large_yellow_circle: Warning",
    "blocked": ":red_circle: Blocked",
}
GUARDRAIL_MARK: dict[GuardrailStatus, str] = {
    "ok": ":white_check_mark:",
    "worsened": ":warning:",
    "severe": ":x:",
}


_SLACK_SEQUENCE = re.compile(r"<(?=[!@#])")
"""The ``<`` of ``<!channel>``, ``<!here>``, ``<@U123>`` or ``<#C123>``."""


def esc(text: object) -> str:
    """Escape for Slack mrkdwn: control and bidi characters dropped, then ``&``, ``<`` and ``>``."""
    return strip_hidden(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def literal(text: object) -> str:
    """Text for plain_text objects and table cells, which Slack shows as typed: control and bidi
    characters dropped, and the ``<`` that would open a mention (``<!channel>``, ``<@U1>``)
    shown as ``‹``, so the output never carries a mention even if a client parsed it."""
    return _SLACK_SEQUENCE.sub("‹", strip_hidden(str(text)))


def unescape(text: str) -> str:
    """Undo Slack's escaping of message text (what a user typed, as Slack delivers it)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis when cut.

    Never cuts inside an ``&amp;``-style entity, so escaped text stays valid mrkdwn.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def minus(text: str) -> str:
    """Typeset negative numbers with a true minus sign (−), as the memo does."""
    return text.replace("-", "\u2212") if text.startswith("-") or " -" in text else text


def count(value: int | float | None) -> str:
    return f"{value:,.0f}" if _finite(value) else "n/a"


def pct(rate: float | None, digits: int = 2) -> str:
    """A rate as a percentage: 0.1034 → ``10.34%``."""
    return f"{rate * 100:.{digits}f}%" if _finite(rate) else "n/a"


def signed_pct(share: float | None, digits: int = 1) -> str:
    """A relative change: 0.052 → ``+5.2%``."""
    return minus(f"{share * 100:+.{digits}f}%") if _finite(share) else "n/a"


def pp(delta: float | None, digits: int = 2) -> str:
    """A difference of rates in percentage points: 0.0123 → ``+1.23 pp``."""
    return minus(f"{delta * 100:+.{digits}f} pp") if _finite(delta) else "n/a"


def ci_pp(ci: Interval | None, digits: int = 2) -> str:
    if ci is None or not (_finite(ci[0]) and _finite(ci[1])):
        return "n/a"
    return minus(f"{ci[0] * 100:+.{digits}f} to {ci[1] * 100:+.{digits}f} pp")


def ci_pct(ci: Interval | None, digits: int = 1) -> str:
    if ci is None or not (_finite(ci[0]) and _finite(ci[1])):
        return "n/a"
    return minus(f"{ci[0] * 100:+.{digits}f}% to {ci[1] * 100:+.{digits}f}%")


def _magnitude_format(value: float, sign: str) -> str:
    size = abs(value)
    if size >= 1000:
        return f"{value:{sign},.0f}"
    if size >= 1:
        return f"{value:{sign},.2f}"
    if size >= 0.01 or value == 0:
        return f"{value:{sign}.3f}"
    return f"{value:{sign}.3g}"


def number(value: float | None) -> str:
    """A mean or other continuous figure with precision by magnitude: 25.31, 0.227, 1,204."""
    return minus(_magnitude_format(value, "")) if _finite(value) else "n/a"  # type: ignore[arg-type]


def signed_number(value: float | None) -> str:
    return minus(_magnitude_format(value, "+")) if _finite(value) else "n/a"  # type: ignore[arg-type]


def ci_number(ci: Interval | None) -> str:
    if ci is None or not (_finite(ci[0]) and _finite(ci[1])):
        return "n/a"
    return f"{signed_number(ci[0])} to {signed_number(ci[1])}"


def p_value(p: float | None, *, plain: bool = False) -> str:
    """``p = 0.0011``, ``p = 0.021``, ``p = 0.43``, and ``p < 0.001`` (``&lt;`` in mrkdwn)."""
    if not _finite(p):
        return "p n/a"
    assert p is not None
    if p < 0.001:
        return f"p {'<' if plain else LT} 0.001"
    if p < 0.01:
        return f"p = {p:.4f}"
    if p < 0.1:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def probability(p: float | None, *, plain: bool = False) -> str:
    """A probability for people: 0.9871 → ``98.7%``; extremes as ``> 99.9%`` / ``< 0.1%``."""
    if not _finite(p):
        return "n/a"
    assert p is not None
    if p > 0.999:
        return f"{'>' if plain else GT} 99.9%"
    if p < 0.001:
        return f"{'<' if plain else LT} 0.1%"
    return f"{p * 100:.1f}%"


def days(value: float | None) -> str:
    if not _finite(value):
        return "n/a"
    assert value is not None
    whole = math.ceil(value)
    return f"{whole} day" if whole == 1 else f"{whole:,} days"
