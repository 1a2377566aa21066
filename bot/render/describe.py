"""Short mrkdwn phrases about parts of an Analysis, shared by the card and the details message.

Every CSV-provided string (arm labels, metric names, file names, findings) is escaped here.
"""

from __future__ import annotations

from bot.render.format import (
    GT,
    GUARDRAIL_MARK,
    HEALTH_BADGE,
    LT,
    ci_number,
    ci_pct,
    ci_pp,
    count,
    esc,
    number,
    p_value,
    pct,
    pp,
    signed_number,
    signed_pct,
)
from experimentos.formatting import display_label, display_text, small_p
from experimentos.model import (
    Analysis,
    Finding,
    GuardrailResult,
    LookStatus,
    MetricResult,
    Thresholds,
)
from experimentos.stats.always_valid import METHOD as ALWAYS_VALID_METHOD

METHOD_NAMES = {
    "wald-unpooled z-test": "unpooled Wald z-test",
    "score": "Miettinen–Nurminen score test (few events)",
    "poisson rate z-test": "Poisson-rate z-test",
    "welch t-test": "Welch's t-test",
    "delta-method z-test": "delta-method z-test (ratio)",
    ALWAYS_VALID_METHOD: "always-valid confidence sequence",
    "holm": "Holm",
    "bonferroni": "Bonferroni",
    "bh": "Benjamini–Hochberg",
}


def label(arm: str) -> str:
    """An arm label or metric name from the CSV, shortened for display, escaped, in code style."""
    return f"`{esc(display_label(arm))}`"


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, esc(method))


def health_line(analysis: Analysis) -> str:
    health = analysis.health
    text = f"*Health:* {HEALTH_BADGE[health.status]}"
    if health.srm is not None:
        text += f" · SRM {p_value(health.srm.p_value)}"
    return text


def finding_line(finding: Finding) -> str:
    """``• Row 4, column `users`: message`` — leaving out what the message already says."""
    message = finding.message.lower()
    where = []
    if (
        finding.row is not None
        and f"line {finding.row}" not in message
        and f"row {finding.row}" not in message
    ):
        where.append(f"row {finding.row}")
    if finding.column is not None and finding.column.lower() not in message:
        where.append(f"column {label(finding.column)}")
    prefix = f"{', '.join(where).capitalize()}: " if where else ""
    return f"• {prefix}{esc(display_text(finding.message))}"


def arm_rate(result: MetricResult, which: str) -> str:
    arm = result.control if which == "control" else result.treatment
    if result.kind in ("mean", "ratio"):
        return f"{label(arm.arm)} {number(arm.value)} (n = {count(arm.n)})"
    conversions = f"{count(arm.conversions)} / " if arm.conversions is not None else ""
    return f"{label(arm.arm)} {pct(arm.value)} ({conversions}{count(arm.n)})"


def lift_line(result: MetricResult, *, adjusted: bool) -> str:
    """``Lift *+1.00 pp* (95% CI …) · relative +10.0% · p = 0.021``."""
    c = result.comparison
    if result.kind in ("mean", "ratio"):
        lift = f"*{signed_number(c.abs_lift)}* (95% CI {ci_number(c.abs_ci)})"
    else:
        lift = f"*{pp(c.abs_lift)}* (95% CI {ci_pp(c.abs_ci)})"
    text = f"Lift {lift} · relative {signed_pct(c.rel_lift)} · {p_value(c.p_value)}"
    if adjusted and result.p_value_adjusted is not None:
        text += f" (adjusted {p_value(result.p_value_adjusted)})"
    return text


def relative_ci(result: MetricResult) -> str:
    return ci_pct(result.comparison.rel_ci)


def guardrail_line(guardrail: GuardrailResult, *, with_arm: bool) -> str:
    metric = guardrail.metric
    arm = f"{label(metric.arm)} " if with_arm else ""
    direction = " (higher is better)" if guardrail.higher_is_better else ""
    text = (
        f"{GUARDRAIL_MARK[guardrail.status]} {arm}{label(metric.name)} "
        f"Δ {pp(metric.comparison.abs_lift)} ({p_value(metric.comparison.p_value)})"
        f" — {guardrail.status}{direction}"
    )
    if guardrail.multi_count:
        text += " · _several events per user: read with care_"
    if guardrail.margin_rel is not None:
        verdict = "within margin" if guardrail.within_margin else "breaches margin"
        text += f" · {verdict} ({guardrail.margin_rel:.1%} relative, one-sided)"
    return text


def look_line(look: LookStatus) -> str:
    state = "crossed" if look.crossed else "not crossed: not yet conclusive"
    return (
        f"Look {look.look} of {look.of_looks} ({look.spending}, information {pct(look.information_fraction, 0)}):"
        f" boundary |z| ≥ {look.boundary_z:.2f} (p {LT} {small_p(look.nominal_p_threshold)}),"
        f" z = {look.z:.2f}, {state}"
    )


def always_valid(analysis: Analysis) -> bool:
    """Is the primary metric tested with the always-valid confidence sequence (safe to peek)?"""
    return bool(analysis.primary) and all(
        m.comparison.method == ALWAYS_VALID_METHOD for m in analysis.primary
    )


def methods(analysis: Analysis) -> str:
    names = {method_name(m.comparison.method) for m in (*analysis.primary, *analysis.secondary)}
    names |= {method_name(g.metric.comparison.method) for g in analysis.guardrails}
    text = ", ".join(sorted(names)) if names else "none (data blocked)"
    if len(analysis.primary) > 1:
        text += f"; {method_name(analysis.thresholds.correction)} correction"
    return text


def thresholds_line(thresholds: Thresholds) -> str:
    return (
        f"α {thresholds.alpha:g} · SRM warning p {LT} {small_p(thresholds.srm_warning_p)}, "
        f"blocked p {LT} {small_p(thresholds.srm_blocked_p)} · guardrail worsened {GT} "
        f"{thresholds.guardrail_worsened_pp:g} pp, severe {GT} {thresholds.guardrail_severe_pp:g} pp"
    )


def data_version(analysis: Analysis) -> str:
    info = analysis.experiment
    return (
        f"Data: {label(info.file_name)}, {count(info.rows)} rows, "
        f"{info.input_format.replace('_', '-')}, sha256 `{esc(info.checksum[:12])}`"
    )
