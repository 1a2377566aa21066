"""The rows of the forest plot, and the plot described in words, from an Analysis alone.

Guardrail thresholds are set in percentage points (SPEC §2.4); each is placed on its own row in
relative lift with that row's control rate (threshold_pp / control rate), so every metric shares
one axis. A relative non-inferiority margin (SPEC §2.13) is already relative and replaces the
worsened rule, so the worsened line is not drawn where a margin is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experimentos.formatting import display_label, display_text, number, pct, pp
from experimentos.model import Analysis, GuardrailResult, Interval, MetricResult
from experimentos.report.charts._style import shorten


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One row of the forest plot: a metric for one treatment arm."""

    group: str
    """"Primary", "Guardrails" or "Other metrics"."""
    name: str
    arm: str
    label: str
    status: str
    """A key of STATUS_COLOURS."""
    status_text: str
    lift: float
    """Relative lift, treatment / control − 1."""
    ci: Interval
    delta_text: str
    thresholds: tuple[tuple[str, float, str], ...] = ()
    """(kind, relative lift, as configured) of each guardrail line: worsened, severe, margin."""


def forest_rows(analysis: Analysis) -> tuple[ForestRow, ...]:
    """The rows the forest plot draws, top to bottom, grouped by role."""
    several = len({m.arm for m in analysis.primary}) > 1
    rows = [_metric_row(m, "Primary", several) for m in analysis.primary]
    rows += [_guardrail_row(g, several) for g in analysis.guardrails]
    rows += [_metric_row(m, "Other metrics", several) for m in analysis.secondary]
    arms = analysis.experiment.arms
    first = {}
    for row in rows:
        first.setdefault((row.group, row.name), len(first))
    return tuple(
        sorted(
            rows,
            key=lambda r: (first[r.group, r.name], arms.index(r.arm) if r.arm in arms else 0),
        )
    )


def forest_alt_text(analysis: Analysis, *, limit: int = 1500) -> str:
    """The forest plot described in words, for screen readers and Slack's alt text."""
    rows = forest_rows(analysis)
    verdict = analysis.verdict.label
    name = display_label(analysis.experiment.name)
    if not rows:
        return (
            f"Chart for {name}: no metrics to plot because the data is blocked; "
            f"verdict {verdict}. {display_text(analysis.verdict.reason)}"
        )[:limit]
    parts = [
        f"Forest plot for {name} (verdict {verdict}): relative lift of each metric versus "
        f"control with 95% confidence intervals; 0% means no change."
    ]
    for row in rows:
        low, high = row.ci
        text = (
            f"{row.group.rstrip('s') if row.group != 'Other metrics' else 'Other metric'} "
            f"{display_label(row.name)}, {display_label(row.arm)}: {pct(row.lift)} "
            f"(95% CI {pct(low)} to {pct(high)}), "
            f"{row.status_text}"
        )
        if row.thresholds:
            marks = ", ".join(f"{kind} at {text} ({pct(x)})" for kind, x, text in row.thresholds)
            text += f"; thresholds: {marks}"
        parts.append(text + ".")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- rows


def _metric_row(m: MetricResult, group: str, several: bool) -> ForestRow:
    c = m.comparison
    if group != "Primary":
        status, words = "secondary", "reported only"
    elif not m.significant:
        status, words = "not_significant", "not significant"
    elif c.abs_lift > 0:
        status, words = "significant_up", "significant increase"
    else:
        status, words = "significant_down", "significant decrease"
    delta = pp(c.abs_lift) if m.kind == "proportion" else _signed(c.abs_lift)
    return ForestRow(
        group=group,
        name=m.name,
        arm=m.arm,
        label=_label(m.name, m.arm, several),
        status=status,
        status_text=words,
        lift=c.rel_lift,
        ci=c.rel_ci,
        delta_text=f"Δ {delta} · {words.removesuffix(' increase').removesuffix(' decrease')}",
    )


def _guardrail_row(g: GuardrailResult, several: bool) -> ForestRow:
    m = g.metric
    return ForestRow(
        group="Guardrails",
        name=m.name,
        arm=m.arm,
        label=_label(m.name, m.arm, several),
        status=g.status,
        status_text=g.status,
        lift=m.comparison.rel_lift,
        ci=m.comparison.rel_ci,
        delta_text=f"Δ {pp(m.comparison.abs_lift)} · {g.status}",
        thresholds=_thresholds(g),
    )


def _thresholds(g: GuardrailResult) -> tuple[tuple[str, float, str], ...]:
    """Lines on a guardrail row, in relative lift: the pp thresholds ÷ the control rate, and
    the relative non-inferiority margin as is (a margin replaces the worsened rule)."""
    sign = -1.0 if g.higher_is_better else 1.0
    control = g.metric.control.value
    marks: list[tuple[str, float, str]] = []
    if g.margin_rel is not None:
        marks.append(("margin", sign * g.margin_rel, f"{sign * g.margin_rel:+.1%} relative"))
    if math.isfinite(control) and control > 0:
        limits = [("severe", g.severe_pp)]
        if g.margin_rel is None:
            limits.insert(0, ("worsened", g.worsened_pp))
        marks += [(k, sign * v / 100 / control, f"{sign * v:+g} pp") for k, v in limits]
    return tuple(marks)


def _label(name: str, arm: str, several: bool) -> str:
    name, arm = display_label(name), display_label(arm)
    return f"{shorten(name, 19)} · {shorten(arm, 11)}" if several else shorten(name, 40)


def _signed(value: float) -> str:
    return number(value) if value < 0 else "+" + number(value)


# --------------------------------------------------------------------------- drawing
