"""The memo's *Evidence* section: data health, the metric tables, segments, the Bayesian view,
the sample ratio mismatch's causes and the lift by exposure day, as document blocks.

Labels from the CSV or the user are shown through :func:`experimentos.formatting.display_label`
and sentences that quote them through :func:`~experimentos.formatting.display_text`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial

from experimentos.analysis.health import SRM_CAUSES, SRM_CAUSES_SOURCE, srm_fired
from experimentos.formatting import (
    delta,
    interval,
    level,
    number,
    pct,
    pp,
    pvalue,
    rate,
    signed_number,
)
from experimentos.formatting import display_label as label
from experimentos.formatting import display_text as text
from experimentos.model import Analysis, GuardrailResult, MetricResult
from experimentos.report.document import (
    Block,
    Inline,
    Paragraph,
    Section,
    Table,
    bold,
    italic,
    item_list,
    plain,
    table,
    text_list,
)
from experimentos.stats.novelty import MIN_USERS as NOVELTY_MIN_USERS

_STATUS_MARK = {"ok": "✅ ok", "worsened": "⚠️ worsened", "severe": "⛔ severe"}
_PERCENTILE_METHOD = (
    "Median and p90 per arm (linear interpolation); the difference's CI by "
    "Woodruff's order-statistic method: each arm's standard error from the values "
    "at the binomial ranks n·q ∓ z·√(n·q(1−q))."
)


LIFT_BY_DAY_KEY = "lift-by-day"
"""The key of the *Lift by exposure day* section (the PDF draws its chart there)."""


def evidence(a: Analysis) -> Section:
    """The *Evidence* section: one subsection per kind of result the analysis has."""
    health, primary = _data_health(a)
    parts = [health, primary]
    if a.guardrails:
        parts.append(Section("Guardrails", (_guardrail_table(a.guardrails),)))
    if a.segments:
        parts.append(Section("Segments", _segment_blocks(a)))
    if a.secondary:
        notes = [f"{label(m.name)}: {text(n)}" for m in a.secondary for n in m.notes]
        blocks = (metric_table(a.secondary), *text_list(notes))
        parts.append(Section("Other metrics (reported, not part of the verdict)", blocks))
    if a.percentiles:
        notes = [text(n) for m in a.percentiles for n in m.notes]
        blocks = (metric_table(a.percentiles), *text_list(notes), _paragraph(_PERCENTILE_METHOD))
        parts.append(Section("Percentiles (reported, not part of the verdict)", blocks))
    parts += [_bayes(a), _srm_causes(a), _lift_by_day(a)]
    return Section("Evidence", subsections=tuple(p for p in parts if p is not None), key="evidence")


def _paragraph(value: str) -> Paragraph:
    return Paragraph((plain(value),))


def _data_health(a: Analysis) -> tuple[Section, Section | None]:
    """*Data health* and, when there is a primary metric, *Primary metric* with its notes; the
    omnibus test across arms ends the latter (the former when there is none)."""
    h = a.health
    srm = f" · SRM chi-square {h.srm.chi2:.2f}, {pvalue(h.srm.p_value)}" if h.srm else ""
    status: Inline = (bold(h.status.capitalize()), *([plain(srm)] if srm else []))
    health: list[Block] = [Paragraph(status)]
    health += text_list(f"{f.severity}: {text(f.message)}" for f in h.findings)
    primary: list[Block] = []
    if a.primary:
        notes = dict.fromkeys(n for m in a.primary for n in m.notes)
        primary += [metric_table(a.primary), *text_list(text(n) for n in notes)]
    if a.overall:
        (primary if a.primary else health).append(
            _paragraph(
                f"Overall chi-square test across all arms: χ² = {a.overall.chi2:.2f}, "
                f"df = {a.overall.dof}, {pvalue(a.overall.p_value)}."
            )
        )
    primary_section = Section("Primary metric", tuple(primary)) if a.primary else None
    return Section("Data health", tuple(health)), primary_section


def _bayes(a: Analysis) -> Section | None:
    if not a.bayes:
        return None
    rows = [
        (
            label(b.arm),
            pct(b.chance_to_beat_control, signed=False),
            pct(b.prob_best, signed=False),
            pp(b.expected_loss, digits=3),
        )
        for b in a.bayes.arms
    ]
    blocks = (
        table(("arm", "chance to beat control", "P(best)", "expected loss"), rows),
        _paragraph(f"Priors {text(a.bayes.prior)}; computed by {text(a.bayes.method)}."),
    )
    return Section("Bayesian view (explanatory; never changes the verdict)", blocks)


def _srm_causes(a: Analysis) -> Section | None:
    """When the sample ratio check fired: the known causes by stage, to check in order."""
    if not srm_fired(a.health):
        return None
    causes = item_list((bold(stage), plain(f": {cause}")) for stage, cause in SRM_CAUSES)
    source = Paragraph((italic(f"After {SRM_CAUSES_SOURCE}."),))
    return Section("Sample ratio mismatch: known causes to check", (*causes, source))


def _lift_by_day(a: Analysis) -> Section | None:
    """With a date column: the primary's lift among the users first exposed each day, and the
    trend's slope (weighted least squares on day index, weights 1/SE²)."""
    n = a.novelty
    if n is None:
        return None
    rows = [
        (
            d.day,
            str(d.index),
            f"{rate(d.control_converted / d.control_users)} (n={d.control_users:,})",
            f"{rate(d.treatment_converted / d.treatment_users)} (n={d.treatment_users:,})",
            pp(d.lift),
            f"{d.se * 100:.2f} pp",
        )
        for d in n.days
    ]
    header = ("first exposed", "day", label(n.control), label(n.treatment), "Δ", "SE")
    if math.isfinite(n.slope):  # a slope needs two days
        trend = (
            f"Trend of the lift ({label(n.treatment)} vs {label(n.control)}, users by the day of "
            f"their first row in {label(n.column)}): {pp(n.slope)}/day "
            f"(SE {n.slope_se * 100:.2f} pp), {pvalue(n.p_value)}; weighted least squares of "
            "daily lift on day index, weights 1/SE²."
        )
    else:
        trend = (
            f"Fewer than two days with at least {NOVELTY_MIN_USERS} users in each arm: "
            "no trend is tested."
        )
    if n.skipped:
        left = ", ".join(n.skipped[:10]) + (" …" if len(n.skipped) > 10 else "")
        trend += (
            f" {len(n.skipped)} day(s) left out (fewer than {NOVELTY_MIN_USERS} users in an arm, "
            f"or an arm at 0% or 100%): {left}."
        )
    tables = [table(header, rows)] if rows else []
    return Section("Lift by exposure day", (*tables, _paragraph(trend)), key=LIFT_BY_DAY_KEY)


def metric_table(metrics: Iterable[MetricResult]) -> Table:
    """One row per metric and arm: control, treatment, Δ and relative lift with CIs, p, method."""
    rows = []
    for m in metrics:
        c = m.comparison
        fmt = rate if m.kind == "proportion" else number
        delta = pp if m.kind == "proportion" else signed_number
        p_text = pvalue(m.p_value_adjusted) + (" (adj.)" if m.p_value_adjusted != c.p_value else "")
        rows.append(
            (
                label(m.name) + (" (ratio)" if m.kind == "ratio" else ""),
                f"{label(m.arm)} vs {label(m.control.arm)}",
                f"{fmt(m.control.value)} (n={m.control.n:,})",
                f"{fmt(m.treatment.value)} (n={m.treatment.n:,})",
                f"{delta(c.abs_lift)} {interval(*c.abs_ci, fmt=delta)}",
                f"{pct(c.rel_lift)} {interval(*c.rel_ci, fmt=pct)}",
                p_text,
                c.method,
            )
        )
    header = ("metric", "arm", "control", "treatment", "Δ (95% CI)", "relative (95% CI)", "p")
    return table((*header, "method"), rows)


def _segment_blocks(a: Analysis) -> tuple[Block, ...]:
    rows = []
    for r in a.segments:
        m, c = r.metric, r.metric.comparison
        srm = _bare_p(r.srm_p_value) if r.srm_p_value is not None else "n/a"
        rows.append(
            (
                label(r.segment),
                label(m.arm),
                f"{level(m.control.value, m.kind)} (n={m.control.n:,})",
                f"{level(m.treatment.value, m.kind)} (n={m.treatment.n:,})",
                f"{delta(c.abs_lift, m.kind)} "
                f"{interval(*c.abs_ci, fmt=partial(delta, kind=m.kind))}",
                pvalue(c.p_value),
                srm,
            )
        )
    header = ("segment", "arm", "control", "treatment", "Δ (95% CI)", "p", "SRM p")
    entries = []
    for h in a.heterogeneity:
        runs = [
            plain(
                f"Heterogeneity across segments for {label(h.arm)}: Cochran's Q = {h.q:.2f}, "
                f"df = {h.dof}, {pvalue(h.p_value)}, I² = {h.i_squared:.0%}."
            )
        ]
        if h.simpsons_paradox:
            runs += [
                plain(" "),
                bold("Simpson's paradox"),
                plain(": the pooled lift has the opposite sign."),
            ]
        entries.append(tuple(runs))
    return (table(header, rows), *item_list(entries))


def _bare_p(value: float) -> str:
    """A p-value cell under a "p" heading: ``0.834``, ``< 0.0001`` (never ``= 0.834``, which a
    spreadsheet would read as a formula)."""
    return pvalue(value).removeprefix("p = ").removeprefix("p ")


def _guardrail_table(guardrails: Iterable[GuardrailResult]) -> Table:
    rows = []
    for g in guardrails:
        m, c = g.metric, g.metric.comparison
        rows.append(
            (
                label(m.name),
                label(m.arm),
                rate(m.control.value),
                rate(m.treatment.value),
                f"{pp(c.abs_lift)} {interval(*c.abs_ci)}",
                pvalue(c.p_value),
                "it drops" if g.higher_is_better else "it rises",
                f"{_STATUS_MARK[g.status]}{_margin_text(g)}",
            )
        )
    header = ("guardrail", "arm", "control", "treatment", "Δ (95% CI)", "p", "harm if", "status")
    return table(header, rows)


def _margin_text(g: GuardrailResult) -> str:
    if g.margin_rel is None:
        return ""
    verdict = "within margin" if g.within_margin else "breaches margin"
    p_text = pvalue(g.margin_p_value) if g.margin_p_value is not None else "p = n/a"
    return f" · {verdict} ({g.margin_rel:.1%} relative, one-sided {p_text})"
