"""What changed between two looks at one experiment, in one line (SPEC §2.13 "look diff")."""

from __future__ import annotations

import math

from experimentos.formatting import delta
from experimentos.model import Analysis, MetricResult


def look_diff(previous: Analysis, current: Analysis, *, previous_look: int) -> str:
    """E.g. "Since look 1: lift +0.80 pp → +1.00 pp · CI width 1.90 pp → 1.20 pp · Hold → Launch"."""
    parts = []
    before = _primary(previous, current)
    now = current.primary_for(current.verdict.arm or "") or (
        current.primary[0] if current.primary else None
    )
    if before is not None and now is not None:
        lift_before = before.comparison.abs_lift
        low, high = before.comparison.abs_ci

        def unit(value: float) -> str:  # pp for a rate, the metric's own units for a mean
            return delta(value, now.kind)

        if not math.isnan(lift_before):
            parts.append(f"lift {unit(lift_before)} → {unit(now.comparison.abs_lift)}")
        if not (math.isnan(low) or math.isnan(high)):
            width_now = now.comparison.abs_ci[1] - now.comparison.abs_ci[0]
            parts.append(f"CI width {unit(high - low).lstrip('+')} → {unit(width_now).lstrip('+')}")
    verdict_before = previous.verdict.label
    if verdict_before != current.verdict.label:
        parts.append(f"verdict {verdict_before} → {current.verdict.label}")
    else:
        parts.append(f"verdict still {current.verdict.label}")
    return f"Since look {previous_look}: " + " · ".join(parts)


def _primary(previous: Analysis, current: Analysis) -> MetricResult | None:
    """The earlier look's primary result for the arm the current verdict is about."""
    wanted = current.verdict.arm or (current.primary[0].arm if current.primary else None)
    found = previous.primary_for(wanted) if wanted else None
    return found or (previous.primary[0] if previous.primary else None)
