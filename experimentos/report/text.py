"""Plain-text rendering for the terminal: the verdict first, the evidence after.

Labels and sentences from the file pass through :func:`experimentos.formatting.display_label` /
:func:`~experimentos.formatting.display_text`, so no escape sequence or bidi override reaches the
terminal and a huge label prints shortened.
"""

from __future__ import annotations

import math

from experimentos.analysis.decision_rules import rule_in_words
from experimentos.formatting import (
    display_label,
    display_text,
    interval,
    number,
    pct,
    pp,
    pvalue,
    rate,
    signed_number,
    small_p,
)
from experimentos.model import Analysis, MetricResult
from experimentos.stats.power import SampleSizePlan


def render(a: Analysis) -> str:
    v, h = a.verdict, a.health
    lines = [
        f"{v.label.upper()}: {display_label(a.experiment.name)}",
        f"  {display_text(v.reason)}",
        "",
    ]
    srm = f" (SRM {pvalue(h.srm.p_value)})" if h.srm else ""
    lines.append(f"Health: {h.status.capitalize()}{srm}")
    lines += [f"  [{f.severity}] {display_text(f.message)}" for f in h.findings]
    for m in a.primary:
        lines += [f"Primary  {_metric_line(m)}", *_notes(m)]
    if a.primary:
        lines.append(f"Primary test: {display_text(a.primary[0].comparison.method)}")
    for m in a.success:  # the risk-aware rule's success metrics; p Bonferroni-adjusted
        lines += [f"Success  {_metric_line(m)}", *_notes(m)]
    for g in a.guardrails:
        lines += [f"Guardrail {_metric_line(g.metric)}  → {g.status}", *_notes(g.metric)]
    for m in (*a.secondary, *a.percentiles):
        lines += [f"Other    {_metric_line(m)}", *_notes(m)]
    if a.overall:
        lines.append(
            f"Overall chi-square: {a.overall.chi2:.2f} (df {a.overall.dof}), "
            f"{pvalue(a.overall.p_value)}"
        )
    if a.bayes:
        chances = ", ".join(
            f"{display_label(b.arm)} {pct(b.chance_to_beat_control, signed=False)}"
            for b in a.bayes.arms
            if b.chance_to_beat_control is not None
        )
        lines.append(f"Chance to beat control (Bayesian, explanatory): {chances}")
    if a.warnings:
        lines += ["", "Warnings:", *[f"  - {display_text(w)}" for w in a.warnings]]
    lines += ["", "Next actions:", *[f"  - {display_text(x)}" for x in v.next_actions]]
    checked = a.guardrails_for(v.arm) if v.arm else a.guardrails
    lines += [
        "",
        rule_in_words(v, guardrails=len(checked)),
        f"Data: {display_label(a.experiment.file_name)}, {a.experiment.rows:,} rows, "
        f"sha256 {a.experiment.checksum[:12]}",
    ]
    return "\n".join(lines) + "\n"


def _metric_line(m: MetricResult) -> str:
    c = m.comparison
    if m.kind == "proportion":
        values = f"{rate(m.control.value)} → {rate(m.treatment.value)}"
        delta = f"{pp(c.abs_lift)} {interval(*c.abs_ci)}"
    else:
        values = f"{number(m.control.value)} → {number(m.treatment.value)}"
        sign = signed_number if m.role == "primary" else _signed  # the primary: in full units
        delta = f"{sign(c.abs_lift)} [{sign(c.abs_ci[0])}, {sign(c.abs_ci[1])}]"
    kind = "ratio, delta method; " if m.kind == "ratio" else ""
    return (
        f"{display_label(m.name)} ({kind}{display_label(m.arm)} vs {display_label(m.control.arm)}): "
        f"{values}, {delta}, {pct(c.rel_lift)}, "
        f"{pvalue(m.p_value_adjusted)}"
    )


def _notes(m: MetricResult) -> list[str]:
    return [f"         {display_text(note)}" for note in m.notes]


def _signed(value: float) -> str:
    return f"{value:+.4g}" if math.isfinite(value) else "n/a"


def render_power(plan: SampleSizePlan) -> str:
    """The sample-size plan as text: the design, users per variant (once when every arm needs the
    same), the total and days, and with looks the sequential maximum, its days and boundaries."""
    lines = [_power_design(plan), _power_alpha(plan)]
    sizes = plan.users_per_variant
    per_variant = (
        f"{sizes[0]:,}"
        if len(set(sizes)) == 1
        else ", ".join(f"{n:,}" for n in sizes) + " (control first)"
    )
    lines += [f"Users per variant: {per_variant}", f"Total users: {plan.total_users:,}"]
    if plan.days is not None:
        lines.append(f"Days at {plan.daily_users:,} users/day: {plan.days}")
    if plan.looks:
        most = f"max total {plan.max_total_users:,}"
        if plan.max_days is not None:
            most += f" users, {plan.max_days} days at {plan.daily_users:,} users/day"
        lines.append(
            f"With {plan.looks} looks ({plan.spending}): inflation ×"
            f"{plan.inflation_factor:.3f}, {most}"
        )
        lines += [
            f"  look {b.look}: t = {b.information_fraction:.2f}, |z| ≥ {b.z:.3f}, "
            f"nominal p < {small_p(b.nominal_p)}"
            for b in plan.boundaries
        ]
    return "\n".join(lines) + "\n"


def _power_design(plan: SampleSizePlan) -> str:
    if plan.metric_kind == "proportion":
        assert plan.baseline is not None  # a rate is always sized from its baseline
        mde = pp(plan.mde_absolute)
        start = f"Baseline rate {rate(plan.baseline)}"
    else:
        mde = f"{plan.mde_absolute:+g}"
        start = f"Mean metric, sd {plan.sd:g}" + (
            f", baseline mean {plan.baseline:g}" if plan.baseline is not None else ""
        )
    rel = f" ({pct(plan.mde_relative)})" if plan.mde_relative is not None else ""
    return f"{start}, minimum detectable effect {mde}{rel}"


def _power_alpha(plan: SampleSizePlan) -> str:
    per = (
        f"; {small_p(plan.alpha_per_comparison, digits=4)} per comparison"
        if plan.alpha_per_comparison != plan.alpha
        else ""
    )
    return f"α = {plan.alpha:g} (two-sided{per}), power = {plan.power:g}"
