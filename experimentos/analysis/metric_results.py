"""One treatment arm against control on one metric, as a :class:`MetricResult`: the statistics
layer's comparison with the arms' summaries, the role and the notes a reader needs."""

from __future__ import annotations

import math
from dataclasses import replace

from experimentos.formatting import delta
from experimentos.model import (
    ArmInput,
    ArmSummary,
    Comparison,
    ExperimentData,
    Finding,
    MeanStats,
    MetricKind,
    MetricResult,
    Options,
    ProportionStats,
    Thresholds,
)
from experimentos.stats import always_valid, corrections
from experimentos.stats.cuped import cuped_comparison
from experimentos.stats.means import welch_comparison
from experimentos.stats.proportions import compare_proportions
from experimentos.stats.ratios import ratio_comparison
from experimentos.stats.score_test import SCORE_METHOD, SCORE_MIN_EVENTS


def score_note(
    control: ProportionStats,
    treatment: ProportionStats,
    control_label: str,
    treatment_label: str,
    *,
    min_events: int = SCORE_MIN_EVENTS,
) -> str:
    """Why the score test replaced the Wald z-test: the arm with the fewest events or
    non-events, how many, and the threshold."""
    counts = [
        (arm.conversions, "conversions", label)
        for arm, label in ((control, control_label), (treatment, treatment_label))
    ] + [
        (arm.users - arm.conversions, "non-conversions", label)
        for arm, label in ((control, control_label), (treatment, treatment_label))
    ]
    fewest, what, arm = min(counts, key=lambda item: item[0])
    if fewest == 1:
        what = what.removesuffix("s")
    return (
        f"Score test (Miettinen–Nurminen) instead of the Wald z-test: {arm} has {fewest:,} "
        f"{what}, fewer than {min_events}, where the Wald test's false-positive rate exceeds α. "
        "Its intervals for the difference and the relative lift invert the same test, so they "
        "exclude no change exactly when p < α."
    )


def score_findings(metrics: tuple[MetricResult, ...], *, min_events: int) -> list[Finding]:
    """An info finding for each proportion metric tested by the score test, saying why."""
    return [
        Finding(
            "info",
            "score_test",
            f"{m.name}, {m.arm} vs {m.control.arm}: "
            + score_note(
                ProportionStats(m.control.n, m.control.conversions or 0),
                ProportionStats(m.treatment.n, m.treatment.conversions or 0),
                m.control.arm,
                m.treatment.arm,
                min_events=min_events,
            ),
            column=m.name,
        )
        for m in metrics
        if m.comparison.method == SCORE_METHOD
    ]


def proportion_result(
    name: str,
    role: str,
    control: ProportionStats,
    treatment: ProportionStats,
    control_label: str,
    treatment_label: str,
    comparison: Comparison,
    p_adjusted: float,
    alpha: float,
    notes: tuple[str, ...] = (),
    *,
    score_min_events: int = SCORE_MIN_EVENTS,
) -> MetricResult:
    if comparison.method == SCORE_METHOD:
        note = score_note(
            control, treatment, control_label, treatment_label, min_events=score_min_events
        )
        notes = (*notes, note)
    return MetricResult(
        name=name,
        kind="proportion",
        role=role,  # type: ignore[arg-type]
        control=ArmSummary(control_label, control.users, control.rate, control.conversions),
        treatment=ArmSummary(
            treatment_label, treatment.users, treatment.rate, treatment.conversions
        ),
        comparison=comparison,
        p_value_adjusted=p_adjusted,
        significant=bool(p_adjusted < alpha),
        notes=notes,
    )


def ratio_result(
    metric: str, control: ArmInput, arm: ArmInput, thresholds: Thresholds
) -> MetricResult:
    """Σx / Σy per arm by the delta method; reported only, uncorrected like the other secondary
    metrics (they never enter the verdict)."""
    c_stats, t_stats = control.ratios[metric], arm.ratios[metric]
    result = ratio_comparison(c_stats, t_stats, alpha=thresholds.alpha)
    return reported(
        metric,
        "ratio",
        ArmSummary(control.arm, c_stats.n, c_stats.value),
        ArmSummary(arm.arm, t_stats.n, t_stats.value),
        result.comparison,
        thresholds,
        notes=(result.note,) if result.note else (),
    )


def mean_result(
    metric: str, control: ArmInput, arm: ArmInput, thresholds: Thresholds
) -> MetricResult:
    """Welch's t-test; CUPED-adjusted when both arms carry the pre-period covariate."""
    c_stats, t_stats = control.means[metric], arm.means[metric]
    theta = reduction = None
    notes: tuple[str, ...] = ()
    if metric in control.covariates and metric in arm.covariates:
        raw_p = welch_comparison(c_stats, t_stats, alpha=thresholds.alpha).p_value
        cuped = cuped_comparison(
            control.covariates[metric], arm.covariates[metric], alpha=thresholds.alpha
        )
        comparison, theta, reduction = cuped.comparison, cuped.theta, cuped.variance_reduction
        notes = (
            f"CUPED with the pre-period value: θ = {theta:.3f}, variance reduced by "
            f"{reduction:.0%} (unadjusted p = {raw_p:.3g}).",
        )
    else:
        comparison = welch_comparison(c_stats, t_stats, alpha=thresholds.alpha)
    if not math.isfinite(comparison.p_value):
        notes = (*notes, _untested_mean_note(metric, c_stats, t_stats))
    return reported(
        metric,
        "mean",
        ArmSummary(control.arm, c_stats.n, c_stats.mean),
        ArmSummary(arm.arm, t_stats.n, t_stats.mean),
        comparison,
        thresholds,
        notes=notes,
        theta=theta,
        variance_reduction=reduction,
    )


def _untested_mean_note(metric: str, control: MeanStats, treatment: MeanStats) -> str:
    """Why Welch's test gave no p-value: every user had the same value, or an arm is too small."""
    if min(control.n, treatment.n) < 2:
        why = "an arm has fewer than 2 users with a value"
    elif not (control.variance > 0 or treatment.variance > 0):
        why = "every user in both arms has the same value (no variance)"
    else:
        why = "its variance cannot be computed from the sums given"
    return f"No test for {metric}: {why}, so Welch's t-test is undefined."


def reported(
    metric: str,
    kind: MetricKind,
    control: ArmSummary,
    treatment: ArmSummary,
    comparison: Comparison,
    thresholds: Thresholds,
    *,
    notes: tuple[str, ...] = (),
    theta: float | None = None,
    variance_reduction: float | None = None,
) -> MetricResult:
    """A secondary metric: reported with its own p-value, never part of the verdict."""
    return MetricResult(
        name=metric,
        kind=kind,
        role="secondary",
        control=control,
        treatment=treatment,
        comparison=comparison,
        p_value_adjusted=comparison.p_value,
        significant=bool(comparison.p_value < thresholds.alpha),
        notes=notes,
        theta=theta,
        variance_reduction=variance_reduction,
    )


# --------------------------------------------------------------------------- primary


def always_valid_note(planned: int) -> str:
    return (
        "Always-valid interval and p (asymptotic confidence sequence, Waudby-Smith et al. "
        f"2023, tuned for {planned:,} users): they hold at every look, so peeking is safe."
    )


def lift_text(metric: MetricResult) -> str:
    """The absolute lift in the metric's units ('+1.23 pp' for a rate, '+4.56' for a mean)."""
    return delta(metric.comparison.abs_lift, metric.kind)


def continuous_primary(
    data: ExperimentData, *, thresholds: Thresholds, correction: str, options: Options
) -> tuple[MetricResult, ...]:
    """A continuous (Welch, CUPED with a ``pre_`` covariate) or ratio (delta method) primary,
    each treatment against control, as the secondary metrics of that kind are computed; then
    the always-valid sequence when asked for, and the correction over the treatment arms."""
    control = data.arm(data.control or "")
    results = [_primary_metric(data, control, arm, thresholds) for arm in data.treatments]
    notes: tuple[str, ...] = ()
    if options.method == "always-valid":
        planned = options.planned_users or always_valid.DEFAULT_PLANNED_USERS
        results = [
            replace(
                m,
                comparison=always_valid.always_valid_comparison(
                    m.comparison,
                    m.control.n + m.treatment.n,
                    alpha=thresholds.alpha,
                    planned_users=planned,
                ),
            )
            for m in results
        ]
        notes = (always_valid_note(planned),)
    adjusted = corrections.adjust_p_values(
        [m.comparison.p_value for m in results],
        method=correction,  # type: ignore[arg-type]
    )
    if len(results) > 1:
        notes = (*notes, f"p-values adjusted for {len(results)} comparisons ({correction}).")
    return tuple(
        replace(
            m,
            p_value_adjusted=p_adj,
            significant=bool(p_adj < thresholds.alpha),
            notes=(*m.notes, *notes),
        )
        for m, p_adj in zip(results, adjusted, strict=True)
    )


def segment_primary(
    data: ExperimentData, control: ArmInput, arm: ArmInput, *, thresholds: Thresholds
) -> MetricResult | None:
    """The primary in one segment (None when the segment lacks a continuous primary's sums)."""
    name = data.primary_name
    if data.primary_kind == "proportion":
        comparison = compare_proportions(
            control.primary,
            arm.primary,
            alpha=thresholds.alpha,
            score_min_events=thresholds.score_min_events,
        )
        return proportion_result(
            name,
            "primary",
            control.primary,
            arm.primary,
            control.arm,
            arm.arm,
            comparison,
            comparison.p_value,
            thresholds.alpha,
        )
    stats = (
        (control.means, arm.means) if data.primary_kind == "mean" else (control.ratios, arm.ratios)
    )
    if not all(name in s for s in stats):
        return None
    return _primary_metric(data, control, arm, thresholds)


def _primary_metric(
    data: ExperimentData, control: ArmInput, arm: ArmInput, thresholds: Thresholds
) -> MetricResult:
    name = data.primary_name
    if data.primary_kind == "ratio":
        return replace(ratio_result(name, control, arm, thresholds), role="primary")
    return replace(mean_result(name, control, arm, thresholds), role="primary")
