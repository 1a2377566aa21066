"""Number formatting shared by every renderer, so the memo, CLI and card say the same thing."""

from __future__ import annotations

import math


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


def number(value: float, *, digits: int = 3) -> str:
    """A mean or a plain figure, with thousands separators and sensible precision."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def interval(low: float, high: float, fmt=pp) -> str:  # type: ignore[no-untyped-def]
    return f"[{fmt(low)}, {fmt(high)}]"
