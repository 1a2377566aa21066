"""Orchestration: ExperimentData + Options → the frozen Analysis every renderer reads."""

from __future__ import annotations

import math
from dataclasses import replace

from experimentos import ingest
from experimentos.analysis import decision_rules as decision
from experimentos.analysis import risk_aware
from experimentos.analysis.health import check_health, with_findings
from experimentos.analysis.look_plan import source_stem
from experimentos.analysis.metric_results import (
    always_valid_note,
    continuous_primary,
    lift_text,
    mean_result,
    proportion_result,
    ratio_result,
    score_findings,
    segment_primary,
)
from experimentos.analysis.remaining import horizon_from_options
from experimentos.config import load_thresholds
from experimentos.errors import OptionError
from experimentos.formatting import small_p
from experimentos.model import (
    Analysis,
    ArmInput,
    Comparison,
    ExperimentData,
    ExperimentInfo,
    Finding,
    GuardrailResult,
    GuardrailSpec,
    HealthReport,
    HeterogeneityTest,
    LookStatus,
    MetricResult,
    NoveltyResult,
    OmnibusTest,
    Options,
    ProportionStats,
    SegmentResult,
    Thresholds,
)
from experimentos.stats import (
    always_valid,
    bayes,
    corrections,
    novelty,
    proportions,
    segments,
    sequential,
)
from experimentos.stats.distributions import norm_isf
from experimentos.stats.quantiles import percentile_results

_PP_TOLERANCE = 1e-9
"""Rates are ratios of integers: a Δ of exactly 0.1 pp must not read as 0.1000000001 pp."""


def analyze(
    data: bytes,
    *,
    file_name: str,
    options: Options = Options(),
    thresholds: Thresholds | None = None,
) -> Analysis:
    """Read a results CSV and decide: health, primary lift, guardrails, verdict.

    Raises :class:`experimentos.errors.UnreadableFileError` only when the bytes are not a CSV;
    problems inside a readable file give a Blocked health report and a Hold verdict.
    """
    thresholds = thresholds or load_thresholds()
    parsed = ingest.parse(data, file_name=file_name, options=options, thresholds=thresholds)
    return analyze_data(parsed, options=options, thresholds=thresholds)


def analyze_data(data: ExperimentData, *, options: Options, thresholds: Thresholds) -> Analysis:
    health = check_health(data, options=options, thresholds=thresholds)
    info = _info(data, options)
    if health.blocked:
        return _blocked(info, health, thresholds)
    control = data.arm(data.control or "")
    treatments = data.treatments
    correction = options.correction or thresholds.correction
    if data.primary_kind == "proportion":
        primary = _primary(control, treatments, thresholds, correction, data.primary_name, options)
    else:
        primary = continuous_primary(
            data, thresholds=thresholds, correction=correction, options=options
        )
    look = _look_status(primary, options, thresholds)
    if look is not None:
        primary = tuple(_with_sequential(m, look) for m in primary)
    guardrails = tuple(
        _guardrail(control, arm, spec, thresholds, options)
        for arm in treatments
        for spec in _guardrail_specs(data, options, thresholds)
    )
    margin_findings = [f for g in guardrails if (f := _untested_margin(g, data, options))]
    guardrails = tuple(_without_untested_margin(g) for g in guardrails)
    secondary = _secondary(control, treatments, data, options, thresholds)
    success: tuple[MetricResult, ...] = ()
    if options.rule == "risk-aware":
        success = _success(control, treatments, data, options, thresholds)
        named = {m.name for m in success}
        secondary = tuple(m for m in secondary if m.name not in named)
    segments, heterogeneity, segment_findings = _segments(data, primary, options, thresholds)
    fading = _novelty(data) if data.primary_kind == "proportion" else None
    novelty_findings = novelty.novelty_findings(fading, alpha=thresholds.alpha)
    switched = score_findings(
        (*primary, *(g.metric for g in guardrails), *success, *secondary),
        min_events=thresholds.score_min_events,
    )
    health = with_findings(
        health, [*switched, *margin_findings, *segment_findings, *novelty_findings]
    )
    overall = bayes_view = None
    if data.primary_kind == "proportion":  # both are of 0/1 outcomes (chi-square, Beta posterior)
        if len(data.arms) > 2:
            chi2, dof, p_value = proportions.chi_square_independence([a.primary for a in data.arms])
            overall = OmnibusTest(chi2=chi2, dof=dof, p_value=p_value)
        bayes_view = bayes.beta_view([(a.arm, a.primary) for a in data.arms], control=control.arm)
    if options.rule == "risk-aware":
        verdict = risk_aware.decide_risk_aware(
            health=health, success=success, guardrails=guardrails, thresholds=thresholds
        )
    else:
        verdict = decision.decide(
            health=health,
            primary=primary,
            guardrails=guardrails,
            sequential=look,
            thresholds=thresholds,
            horizon=horizon_from_options(options, by_day=data.by_day),
        )
    return Analysis(
        warnings=_peeking(options, look, primary),
        experiment=info,
        health=health,
        primary=primary,
        guardrails=guardrails,
        secondary=secondary,
        overall=overall,
        bayes=bayes_view,
        sequential=look,
        verdict=verdict,
        thresholds=_used(thresholds, correction),
        segments=segments,
        heterogeneity=heterogeneity,
        success=success,
        percentiles=percentile_results(data, thresholds),
        novelty=fading,
    )


def _novelty(data: ExperimentData) -> NoveltyResult | None:
    """The primary's lift by day of first exposure, first treatment arm vs control."""
    if not data.by_day or not data.treatments or data.control is None:
        return None
    return novelty.lift_by_day(
        data.by_day,
        column=data.date_column or "date",
        control=data.control,
        treatment=data.treatments[0].arm,
    )


def _used(thresholds: Thresholds, correction: str) -> Thresholds:
    return replace(thresholds, correction=correction)  # type: ignore[arg-type]


def _info(data: ExperimentData, options: Options) -> ExperimentInfo:
    source = data.source
    name = options.name or source_stem(source.file_name)
    return ExperimentInfo(
        name=name,
        file_name=source.file_name,
        checksum=source.checksum,
        rows=source.rows,
        input_format=source.input_format,
        arms=tuple(a.arm for a in data.arms),
        control=data.control,
        primary_metric=data.primary_name,
        look=options.look,
        of_looks=options.of_looks,
    )


def _blocked(info: ExperimentInfo, health: HealthReport, thresholds: Thresholds) -> Analysis:
    verdict = decision.decide(
        health=health, primary=(), guardrails=(), sequential=None, thresholds=thresholds
    )
    return Analysis(
        experiment=info,
        health=health,
        primary=(),
        guardrails=(),
        secondary=(),
        overall=None,
        bayes=None,
        sequential=None,
        verdict=verdict,
        thresholds=thresholds,
    )


# --------------------------------------------------------------------------- metrics


def _primary(
    control: ArmInput,
    treatments: tuple[ArmInput, ...],
    thresholds: Thresholds,
    correction: str,
    name: str,
    options: Options = Options(),
) -> tuple[MetricResult, ...]:
    comparisons = [
        proportions.compare_proportions(
            control.primary,
            arm.primary,
            alpha=thresholds.alpha,
            score_min_events=thresholds.score_min_events,
        )
        for arm in treatments
    ]
    notes: tuple[str, ...] = ()
    if options.method == "always-valid":
        planned = options.planned_users or always_valid.DEFAULT_PLANNED_USERS
        comparisons = [
            always_valid.always_valid_comparison(
                c,
                control.primary.users + arm.primary.users,
                alpha=thresholds.alpha,
                planned_users=planned,
            )
            for c, arm in zip(comparisons, treatments, strict=True)
        ]
        notes = (always_valid_note(planned),)
    adjusted = corrections.adjust_p_values(
        [c.p_value for c in comparisons],
        method=correction,  # type: ignore[arg-type]
    )
    if len(treatments) > 1:
        notes = (*notes, f"p-values adjusted for {len(treatments)} comparisons ({correction}).")
    return tuple(
        proportion_result(
            name,
            "primary",
            control.primary,
            arm.primary,
            control.arm,
            arm.arm,
            comparison,
            p_adj,
            thresholds.alpha,
            notes,
            score_min_events=thresholds.score_min_events,
        )
        for arm, comparison, p_adj in zip(treatments, comparisons, adjusted, strict=True)
    )


def _look_status(
    primary: tuple[MetricResult, ...], options: Options, thresholds: Thresholds
) -> LookStatus | None:
    if options.look is None or options.of_looks is None or len(primary) != 1:
        return None
    if options.method == "always-valid":  # valid at any look: no boundary to spend α on
        return None
    if options.look > sequential.MAX_LOOKS:  # see _peeking: no boundary, a warning instead
        return None
    comparison = primary[0].comparison
    z = comparison.statistic
    if math.isnan(z):  # no z statistic: the z with the same two-sided p, signed like the lift
        z = math.copysign(float(norm_isf(comparison.p_value / 2)), comparison.abs_lift)
    fractions = list(options.look_fractions or ())
    if len(fractions) != options.look:
        fractions = [k / options.of_looks for k in range(1, options.look + 1)]
    status = sequential.look_status(
        z=z,
        look=options.look,
        information_fractions=_increasing(fractions),
        alpha=thresholds.alpha,
        spending=options.spending,
    )
    return replace(status, of_looks=options.of_looks)


def _increasing(fractions: list[float]) -> list[float]:
    """Clamp to (0, 1] and make strictly increasing, as the spending function needs."""
    result: list[float] = []
    for f in fractions:
        value = min(max(f, 1e-6), 1.0)
        if result and value <= result[-1]:
            value = min(result[-1] + 1e-6, 1.0)
        result.append(value)
    return result


def _with_sequential(metric: MetricResult, look: LookStatus) -> MetricResult:
    if math.isfinite(look.boundary_z):
        boundary = (
            f"is |z| ≥ {look.boundary_z:.3f} (nominal p < {small_p(look.nominal_p_threshold)})"
        )
    else:
        boundary = "spends no α at this look: the experiment cannot stop here at any z"
    note = f"Look {look.look} of {look.of_looks}: the {_SPENDING_NAMES[look.spending]} boundary {boundary}."
    return replace(metric, significant=look.crossed, notes=(*metric.notes, note))


def _guardrail_specs(
    data: ExperimentData, options: Options, thresholds: Thresholds
) -> tuple[GuardrailSpec, ...]:
    margins = dict(options.margins)
    if options.guardrails is not None:
        specs = options.guardrails
    else:
        specs = tuple(
            GuardrailSpec(name=c, higher_is_better=c in options.higher_is_better)
            for c in data.guardrail_columns
        )
    return tuple(
        replace(spec, margin_rel=margins[spec.name])
        if spec.name in margins and spec.margin_rel is None
        else spec
        for spec in specs
    )


def _count_comparison(c: ProportionStats, t: ProportionStats, thresholds: Thresholds) -> Comparison:
    """A count metric: rates per user (Poisson) when some user has several events, else the
    proportion test (the score test when an arm has few events or non-events)."""
    if c.conversions > c.users or t.conversions > t.users:
        return proportions.compare_rates(c, t, alpha=thresholds.alpha)
    return proportions.compare_proportions(
        c, t, alpha=thresholds.alpha, score_min_events=thresholds.score_min_events
    )


def _always_valid_margin_p(
    fixed: Comparison,
    spec: GuardrailSpec,
    users: int,
    *,
    alpha: float,
    planned_users: float,
) -> float:
    """The always-valid p that the relative change is past the margin on the safe side: the
    sequence's p for (distance to the margin) with the relative lift's delta-method SE; 1 when
    the estimate itself is past the margin on the harmful side."""
    assert spec.margin_rel is not None
    low, high = fixed.rel_ci
    rel_se = (high - low) / (2 * float(norm_isf(alpha / 2)))
    distance = (
        fixed.rel_lift + spec.margin_rel
        if spec.higher_is_better
        else spec.margin_rel - fixed.rel_lift
    )
    if distance <= 0:
        return 1.0
    return always_valid.always_valid_p(
        distance, rel_se, users, alpha=alpha, planned_users=planned_users
    )


def _guardrail(
    control: ArmInput,
    arm: ArmInput,
    spec: GuardrailSpec,
    thresholds: Thresholds,
    options: Options = Options(),
) -> GuardrailResult:
    """The guardrail's status. Under always-valid inference its interval and p are the confidence
    sequence's, and the margin is met only when the sequence at α excludes it (a two-sided
    sequence at α bounds the one-sided error by α too): every look may be acted on."""
    c, t = control.count(spec.name), arm.count(spec.name)
    multi_count = c.conversions > c.users or t.conversions > t.users
    fixed = _count_comparison(c, t, thresholds)
    comparison = fixed
    planned = options.planned_users or always_valid.DEFAULT_PLANNED_USERS
    sequential_users = c.users + t.users if options.method == "always-valid" else None
    if sequential_users is not None:
        comparison = always_valid.always_valid_comparison(
            fixed, sequential_users, alpha=thresholds.alpha, planned_users=planned
        )
    metric = proportion_result(
        spec.name,
        "guardrail",
        c,
        t,
        control.arm,
        arm.arm,
        comparison,
        comparison.p_value,
        thresholds.alpha,
        score_min_events=thresholds.score_min_events,
    )
    worsened = (
        spec.worsened_pp if spec.worsened_pp is not None else thresholds.guardrail_worsened_pp
    )
    severe = spec.severe_pp if spec.severe_pp is not None else thresholds.guardrail_severe_pp
    delta_pp = comparison.abs_lift * 100
    harm_pp = round(-delta_pp if spec.higher_is_better else delta_pp, 9)
    margin_p = within = None
    if spec.margin_rel is not None:
        margin_p = proportions.non_inferiority_p(
            fixed,
            margin_rel=spec.margin_rel,
            higher_is_better=spec.higher_is_better,
            alpha=thresholds.alpha,
        )
        if sequential_users is not None and not math.isnan(margin_p):
            margin_p = _always_valid_margin_p(
                fixed, spec, sequential_users, alpha=thresholds.alpha, planned_users=planned
            )
        # NaN: a relative change has no standard error here (no events in control, or no
        # variance); the margin cannot be tested, which is not evidence of harm
        within = None if math.isnan(margin_p) else bool(margin_p < thresholds.alpha)
    if harm_pp > severe + _PP_TOLERANCE:
        status = "severe"
    elif within is not None:  # a margin replaces the 0.1 pp rule: within it is fine
        status = "ok" if within else "worsened"
    elif harm_pp > 0 and (
        harm_pp > worsened + _PP_TOLERANCE or comparison.p_value < thresholds.alpha
    ):
        status = "worsened"
    else:
        status = "ok"
    return GuardrailResult(
        metric=metric,
        higher_is_better=spec.higher_is_better,
        worsened_pp=worsened,
        severe_pp=severe,
        status=status,  # type: ignore[arg-type]
        multi_count=multi_count,
        margin_rel=spec.margin_rel,
        margin_p_value=margin_p,
        within_margin=within,
    )


def _untested_margin(
    guardrail: GuardrailResult, data: ExperimentData, options: Options
) -> Finding | None:
    """An info finding for a non-inferiority margin the data cannot test, saying why and what
    the guardrail was judged by instead."""
    if guardrail.margin_rel is None or guardrail.within_margin is not None:
        return None
    metric = guardrail.metric
    rates = f"{metric.control.value:.2%} → {metric.treatment.value:.2%}"
    if not metric.control.conversions and not metric.treatment.conversions:
        why = (
            f"neither arm has any {metric.name} events ({rates}), so a relative change is "
            "undefined. Zero events in both arms is no evidence of harm, but neither is it "
            "proof of non-inferiority"
        )
    elif not metric.control.conversions:
        why = f"{metric.control.arm} has no {metric.name} events ({rates}), so a relative change is undefined"
    else:
        why = f"the relative change has no standard error ({rates})"
    arm = f" for {metric.arm}" if len(data.treatments) > 1 else ""
    return Finding(
        "info",
        "margin_not_tested",
        f"The {guardrail.margin_rel:.1%} relative margin on {metric.name}{arm} could not be "
        f"tested: {why}. It is judged by the absolute rule instead (worse by more than "
        f"{guardrail.worsened_pp:g} pp, or significantly worse): {guardrail.status}.",
        column=metric.name,
    )


def _without_untested_margin(guardrail: GuardrailResult) -> GuardrailResult:
    """An untested margin is not reported as a margin result (within or breached)."""
    if guardrail.margin_rel is None or guardrail.within_margin is not None:
        return guardrail
    return replace(guardrail, margin_rel=None, margin_p_value=None)


def _success(
    control: ArmInput,
    treatments: tuple[ArmInput, ...],
    data: ExperimentData,
    options: Options,
    thresholds: Thresholds,
) -> tuple[MetricResult, ...]:
    """The risk-aware rule's success metrics, each treatment against control, with p-values
    Bonferroni-adjusted over success metrics × treatment arms."""
    names = options.success or (data.primary_name,)
    guardrail_names = {s.name for s in _guardrail_specs(data, options, thresholds)}
    both = [n for n in names if n in guardrail_names]
    if both:
        raise OptionError(
            f"{', '.join(both)} is named both a success metric and a guardrail: a metric is "
            "one or the other."
        )
    raw = [
        _success_one(name, control, arm, data, thresholds) for arm in treatments for name in names
    ]
    family = len(raw)
    note = (
        f"Success metric of the risk-aware rule: p Bonferroni-adjusted over {family} "
        "comparisons (success metrics × treatment arms).",
    )
    return tuple(
        replace(
            m,
            role="success",
            p_value_adjusted=min(1.0, m.comparison.p_value * family),
            significant=bool(m.comparison.p_value * family < thresholds.alpha),
            notes=(*m.notes, *note) if family > 1 else m.notes,
        )
        for m in raw
    )


def _success_one(
    name: str, control: ArmInput, arm: ArmInput, data: ExperimentData, thresholds: Thresholds
) -> MetricResult:
    if name == data.primary_name and data.primary_kind == "proportion":
        c, t = control.primary, arm.primary
    elif name in control.counts and name in arm.counts:
        c, t = control.count(name), arm.count(name)
    elif name in control.means and name in arm.means:
        return mean_result(name, control, arm, thresholds)
    elif name in control.ratios and name in arm.ratios:
        return ratio_result(name, control, arm, thresholds)
    else:
        known = [data.primary_name, *data.secondary_count_columns, *data.mean_columns]
        known += list(data.ratio_columns)
        raise OptionError(
            f"success metric {name!r} is not a metric of this file; its metrics are "
            f"{', '.join(dict.fromkeys(known))}."
        )
    comparison = _count_comparison(c, t, thresholds)
    return proportion_result(
        name,
        "success",
        c,
        t,
        control.arm,
        arm.arm,
        comparison,
        comparison.p_value,
        thresholds.alpha,
    )


def _secondary(
    control: ArmInput,
    treatments: tuple[ArmInput, ...],
    data: ExperimentData,
    options: Options,
    thresholds: Thresholds,
) -> tuple[MetricResult, ...]:
    guardrail_names = {s.name for s in _guardrail_specs(data, options, thresholds)}
    counts = [c for c in data.secondary_count_columns if c not in guardrail_names]
    results = []
    for arm in treatments:
        for column in counts:
            c, t = control.count(column), arm.count(column)
            comparison = _count_comparison(c, t, thresholds)
            results.append(
                proportion_result(
                    column,
                    "secondary",
                    c,
                    t,
                    control.arm,
                    arm.arm,
                    comparison,
                    comparison.p_value,
                    thresholds.alpha,
                )
            )
        results += [
            mean_result(metric, control, arm, thresholds)
            for metric in data.mean_columns
            if metric in control.means and metric in arm.means and metric != data.primary_name
        ]
        results += [
            ratio_result(metric, control, arm, thresholds)
            for metric in data.ratio_columns
            if metric in control.ratios and metric in arm.ratios and metric != data.primary_name
        ]
    return tuple(results)


_SPENDING_NAMES = {"obf": "O'Brien–Fleming-type", "pocock": "Pocock-type"}


def _peeking(
    options: Options, look: LookStatus | None, primary: tuple[MetricResult, ...]
) -> tuple[str, ...]:
    if look is not None:
        nominal = any(m.comparison.p_value < 0.05 for m in primary)
        if nominal and not look.crossed:
            boundary = (
                f"(|z| ≥ {look.boundary_z:.2f}) is not crossed"
                if math.isfinite(look.boundary_z)
                else "spends no α this early"
            )
            return (
                f"Peeking: p < 0.05 at look {look.look} of {look.of_looks}, but the sequential "
                f"boundary {boundary}. Stopping now would "
                "inflate the false-positive rate: wait for the next planned look.",
            )
        return ()
    if options.method == "always-valid":  # the primary's interval holds at every look
        return ()
    if options.look is not None and options.look > sequential.MAX_LOOKS:
        return (
            f"Peeking: this is look {options.look}, more than the {sequential.MAX_LOOKS} looks a "
            "sequential plan can hold, so no boundary is computed. Each look is another chance "
            "of a false positive: decide only at the planned sample size.",
        )
    if options.prior_looks <= 0:
        return ()
    return (
        f"Peeking: this is look {options.prior_looks + 1} at an experiment with no planned "
        "looks. Each look is another chance of a false positive; plan the looks in the charter "
        "to use sequential boundaries, or decide only at the planned sample size.",
    )


# --------------------------------------------------------------------------- segments


def _segments(
    data: ExperimentData,
    primary: tuple[MetricResult, ...],
    options: Options,
    thresholds: Thresholds,
) -> tuple[tuple[SegmentResult, ...], tuple[HeterogeneityTest, ...], list[Finding]]:
    """Per-segment lift and SRM, heterogeneity (Cochran's Q) and Simpson's paradox."""
    if len(data.segments) < 2:
        return (), (), []
    shares = dict(
        zip((a.arm for a in data.arms), options.split or [1.0] * len(data.arms), strict=False)
    )
    results, findings = [], []
    for name, arms in data.segments:
        by_arm = {a.arm: a for a in arms}
        srm_p = None
        if len(arms) >= 2 and all(a.arm in shares for a in arms):
            _, srm_p = proportions.srm_chi_square(
                [a.users for a in arms], [shares[a.arm] for a in arms]
            )
            if srm_p < thresholds.srm_warning_p:
                findings.append(
                    Finding(
                        "warning",
                        "srm_segment",
                        f"Sample ratio mismatch in segment {name!r} (chi-square p = {srm_p:.2g}).",
                        column="segment",
                    )
                )
        control = by_arm.get(data.control or "")
        if control is None:
            continue
        for metric in primary:
            arm = by_arm.get(metric.arm)
            segment_metric = arm and segment_primary(data, control, arm, thresholds=thresholds)
            if segment_metric is not None:
                results.append(SegmentResult(name, segment_metric, srm_p))
    tests = []
    for metric in primary:
        rows = [r.metric.comparison for r in results if r.metric.arm == metric.arm]
        q, dof, p_value, i2 = segments.cochran_q(
            [c.abs_lift for c in rows], [c.standard_error for c in rows]
        )
        simpson = segments.simpsons_paradox(metric.comparison.abs_lift, [c.abs_lift for c in rows])
        tests.append(HeterogeneityTest(metric.arm, q, dof, p_value, i2, simpson))
        if simpson:
            findings.append(
                Finding(
                    "warning",
                    "simpsons_paradox",
                    f"Simpson's paradox: pooled, {metric.arm} moves {metric.name} by "
                    f"{lift_text(metric)}, but every segment moves it the "
                    "other way. The arms' segment mix differs: read the per-segment results.",
                    column="segment",
                )
            )
    return tuple(results), tuple(tests), findings
