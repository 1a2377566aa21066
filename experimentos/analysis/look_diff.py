"""What changed between two looks at one experiment, in one line (SPEC §2.13 "look diff").

The previous look comes from the history as the JSON of its Analysis (``Analysis.to_dict()``),
so this reads plain mappings for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experimentos.formatting import pp
from experimentos.model import Analysis


def look_diff(previous: Mapping[str, Any], current: Analysis, *, previous_look: int) -> str:
    """E.g. "Since look 1: lift +0.80 pp → +1.00 pp · CI width 1.90 pp → 1.20 pp · Hold → Launch"."""
    parts = []
    before = _primary(previous, current)
    now = current.primary_for(current.verdict.arm or "") or (
        current.primary[0] if current.primary else None
    )
    if before is not None and now is not None:
        lift_before = before["comparison"]["abs_lift"]
        low, high = before["comparison"]["abs_ci"]
        if lift_before is not None:
            parts.append(f"lift {pp(lift_before)} → {pp(now.comparison.abs_lift)}")
        if low is not None and high is not None:
            width_now = now.comparison.abs_ci[1] - now.comparison.abs_ci[0]
            parts.append(f"CI width {pp(high - low).lstrip('+')} → {pp(width_now).lstrip('+')}")
    verdict_before = str(previous.get("verdict", {}).get("kind", "?")).capitalize()
    if verdict_before != current.verdict.label:
        parts.append(f"verdict {verdict_before} → {current.verdict.label}")
    else:
        parts.append(f"verdict still {current.verdict.label}")
    return f"Since look {previous_look}: " + " · ".join(parts)


def _primary(previous: Mapping[str, Any], current: Analysis) -> Mapping[str, Any] | None:
    rows = previous.get("primary") or []
    wanted = current.verdict.arm or (current.primary[0].arm if current.primary else None)
    for row in rows:
        if row.get("treatment", {}).get("arm") == wanted:
            return row
    return rows[0] if rows else None
