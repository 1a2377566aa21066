"""The Details message: every arm, every metric and the Bayesian view, posted in the thread."""

from __future__ import annotations

import math

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render import describe as d
from bot.render.format import (
    ci_number,
    ci_pp,
    count,
    esc,
    number,
    p_value,
    pct,
    pp,
    probability,
    signed_number,
    signed_pct,
    truncate,
)
from bot.render.limits import MAX_FALLBACK_TEXT, fit_message
from experimentos.analysis.health import SRM_CAUSES, SRM_CAUSES_SOURCE, srm_fired
from experimentos.formatting import display_label, display_text
from experimentos.model import Analysis, MetricResult

MAX_SECONDARY = 20


def render_details(analysis: Analysis) -> list[Block]:
    parts: list[Block] = [
        b.header(f"Details — {display_label(analysis.experiment.name)}"),
        *_primary_table(analysis),
        *_overall(analysis),
        *_srm(analysis),
        *_srm_causes(analysis),
        *_guardrails(analysis),
        *_segments(analysis),
        *_secondary(analysis),
        *_percentiles(analysis),
        *_lift_by_day(analysis),
        *_bayes(analysis),
        *_findings(analysis),
        b.context(d.data_version(analysis)),
    ]
    return fit_message(parts)


def details_text(analysis: Analysis) -> str:
    name = display_label(analysis.experiment.name)
    return truncate(f"Details of {esc(name)}", MAX_FALLBACK_TEXT)


def _primary_table(analysis: Analysis) -> list[Block]:
    if not analysis.primary:
        return [b.section("No primary-metric results: the data is blocked (see the findings).")]
    first = analysis.primary[0]
    if first.kind != "proportion":
        return _continuous_primary_table(analysis)
    rows = [
        ["arm", "users", "conversions", "rate", "lift", "95% CI", "relative", "p", "p adj."],
        [
            display_label(first.control.arm),
            count(first.control.n),
            count(first.control.conversions),
            pct(first.control.value),
            "control",
            "",
            "",
            "",
            "",
        ],
    ]
    rows += [_treatment_row(m) for m in analysis.primary]
    return [b.section(f"*Primary — {d.label(first.name)}*"), b.table(rows)]


def _continuous_primary_table(analysis: Analysis) -> list[Block]:
    """A mean or ratio primary: its value per arm, the lift in the metric's own units."""
    first = analysis.primary[0]
    kind = "mean" if first.kind == "mean" else "ratio"
    rows = [
        ["arm", "users", kind, "lift", "95% CI", "relative", "p", "p adj."],
        [
            display_label(first.control.arm),
            count(first.control.n),
            number(first.control.value),
            *("control", "", "", "", ""),
        ],
    ]
    for m in analysis.primary:
        c = m.comparison
        rows.append(
            [
                display_label(m.treatment.arm),
                count(m.treatment.n),
                number(m.treatment.value),
                signed_number(c.abs_lift),
                ci_number(c.abs_ci),
                signed_pct(c.rel_lift),
                p_value(c.p_value, plain=True).removeprefix("p ").removeprefix("= "),
                p_value(m.p_value_adjusted, plain=True).removeprefix("p ").removeprefix("= "),
            ]
        )
    title = f"*Primary — {d.label(first.name)}* ({kind}; lift in its own units)"
    return [b.section(title), b.table(rows)]


def _treatment_row(m: MetricResult) -> list[str]:
    c = m.comparison
    return [
        display_label(m.treatment.arm),
        count(m.treatment.n),
        count(m.treatment.conversions),
        pct(m.treatment.value),
        pp(c.abs_lift),
        ci_pp(c.abs_ci),
        signed_pct(c.rel_lift),
        p_value(c.p_value, plain=True).removeprefix("p ").removeprefix("= "),
        p_value(m.p_value_adjusted, plain=True).removeprefix("p ").removeprefix("= "),
    ]


def _overall(analysis: Analysis) -> list[Block]:
    test = analysis.overall
    if test is None:
        return []
    return [
        b.section(
            f"*Overall test* (χ² of independence, {len(analysis.experiment.arms)} arms): "
            f"χ² = {test.chi2:.2f}, dof {test.dof}, {p_value(test.p_value)}"
        )
    ]


def _srm(analysis: Analysis) -> list[Block]:
    srm = analysis.health.srm
    if srm is None:
        return []
    expected = dict(srm.expected)
    arms = ", ".join(
        f"{d.label(arm)} {count(n)} (expected {count(expected.get(arm))})"
        for arm, n in srm.observed
    )
    return [b.section(f"*Sample ratio* χ² = {srm.chi2:.2f}, {p_value(srm.p_value)}: {arms}")]


def _srm_causes(analysis: Analysis) -> list[Block]:
    """When the sample ratio check fired: the known causes by stage."""
    if not srm_fired(analysis.health):
        return []
    lines = ["*Sample ratio mismatch — known causes to check*"]
    lines += [f"• *{stage}*: {cause}" for stage, cause in SRM_CAUSES]
    return [b.section("\n".join(lines)), b.context(f"After {esc(SRM_CAUSES_SOURCE)}.")]


def _guardrails(analysis: Analysis) -> list[Block]:
    if not analysis.guardrails:
        return []
    lines = ["*Guardrails* (rate control → treatment)"]
    for g in analysis.guardrails:
        m = g.metric
        lines.append(
            f"{d.guardrail_line(g, with_arm=True)} · {pct(m.control.value)} → {pct(m.treatment.value)},"
            f" 95% CI {ci_pp(m.comparison.abs_ci)}; thresholds {g.worsened_pp:g} / {g.severe_pp:g} pp"
        )
    return [b.section("\n".join(lines))]


MAX_SEGMENT_LINES = 15


def _segments(analysis: Analysis) -> list[Block]:
    """Per-segment lift and SRM as text lines (the message's one table is the primary's)."""
    if not analysis.segments:
        return []
    lines = ["*Segments* (primary metric per segment)"]
    for r in analysis.segments[:MAX_SEGMENT_LINES]:
        srm = f" · SRM {p_value(r.srm_p_value)}" if r.srm_p_value is not None else ""
        lines.append(
            f"• {esc(display_label(r.segment))} · {d.label(r.metric.arm)}: {d.lift_line(r.metric, adjusted=False)}{srm}"
        )
    if len(analysis.segments) > MAX_SEGMENT_LINES:
        lines.append(f"…{len(analysis.segments) - MAX_SEGMENT_LINES} more in the memo.")
    for h in analysis.heterogeneity:
        simpson = " · :warning: *Simpson's paradox*" if h.simpsons_paradox else ""
        lines.append(
            f"Heterogeneity for {d.label(h.arm)}: Cochran's Q = {h.q:.2f}, df {h.dof}, "
            f"{p_value(h.p_value)}{simpson}"
        )
    return [b.section("\n".join(lines))]


def _secondary(analysis: Analysis) -> list[Block]:
    metrics = analysis.secondary[:MAX_SECONDARY]
    if not metrics:
        return []
    parts: list[Block] = [b.section("*Other metrics* (reported only; never part of the verdict)")]
    for m in metrics:
        kind = {"mean": "mean", "ratio": "ratio"}.get(m.kind, "rate")
        parts.append(
            b.section(
                f"{d.label(m.name)} ({kind}) · {d.arm_rate(m, 'control')} → {d.arm_rate(m, 'treatment')}\n"
                f"{d.lift_line(m, adjusted=False)} · relative CI {d.relative_ci(m)} · "
                f"{d.method_name(m.comparison.method)}"
                + "".join(f"\n_{esc(display_text(note))}_" for note in m.notes)
            )
        )
    if len(analysis.secondary) > MAX_SECONDARY:
        parts.append(b.context(f"…{len(analysis.secondary) - MAX_SECONDARY} more in the memo."))
    return parts


def _percentiles(analysis: Analysis) -> list[Block]:
    """p50/p90 of continuous metrics (Woodruff intervals), reported only — as in the memo."""
    metrics = analysis.percentiles[:MAX_SECONDARY]
    if not metrics:
        return []
    lines = ["*Percentiles* (reported only; Woodruff order-statistic intervals)"]
    for m in metrics:
        c = m.comparison
        lines.append(
            f"• {d.label(m.name)}: {d.label(m.control.arm)} {number(m.control.value)} → "
            f"{d.label(m.treatment.arm)} {number(m.treatment.value)} · "
            f"Δ *{signed_number(c.abs_lift)}* (95% CI {ci_number(c.abs_ci)}) · {p_value(c.p_value)}"
        )
    return [b.section("\n".join(lines))]


MAX_DAY_LINES = 14


def _lift_by_day(analysis: Analysis) -> list[Block]:
    """The primary's lift among the users first exposed each day, and the trend's test."""
    n = analysis.novelty
    if n is None:
        return []
    lines = [
        f"*Lift by exposure day* ({d.label(n.treatment)} vs {d.label(n.control)}, "
        f"users by their first day in {d.label(n.column)})"
    ]
    for day in n.days[:MAX_DAY_LINES]:
        lines.append(
            f"• {esc(day.day)}: {pp(day.lift)} (SE {day.se * 100:.2f} pp; "
            f"n = {count(day.control_users)} / {count(day.treatment_users)})"
        )
    if len(n.days) > MAX_DAY_LINES:
        lines.append(f"…{len(n.days) - MAX_DAY_LINES} more days in the memo.")
    if math.isfinite(n.slope):
        lines.append(
            f"Trend: {pp(n.slope)} per day (SE {n.slope_se * 100:.2f} pp), {p_value(n.p_value)}"
            " — weighted least squares on day index."
        )
    else:
        lines.append("Fewer than two days with enough users in each arm: no trend is tested.")
    if n.skipped:
        lines.append(f"{len(n.skipped)} day(s) left out (too few users or a 0%/100% arm).")
    return [b.section("\n".join(lines))]


def _bayes(analysis: Analysis) -> list[Block]:
    bayes = analysis.bayes
    if bayes is None:
        return []
    lines = [f"*Bayesian view* — explanatory only ({esc(bayes.prior)} prior, {esc(bayes.method)})"]
    for arm in bayes.arms:
        beat = (
            f"beats control {probability(arm.chance_to_beat_control)} · "
            if arm.chance_to_beat_control is not None
            else ""
        )
        lines.append(
            f"• {d.label(arm.arm)}: {beat}best {probability(arm.prob_best)} · "
            f"expected loss if shipped {arm.expected_loss * 100:.3f} pp"
        )
    return [b.section("\n".join(lines))]


def _findings(analysis: Analysis) -> list[Block]:
    findings = analysis.health.findings
    if not findings:
        return []
    lines = [f"*Data findings* ({len(findings)})", *(d.finding_line(f) for f in findings[:30])]
    return [b.section("\n".join(lines))]
