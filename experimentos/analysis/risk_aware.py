"""The risk-aware decision rule over several success metrics and guardrails.

Schultzberg, Ankargren & Frånberg, "Risk-aware product decisions in A/B tests with multiple
metrics" (Spotify, 2024). A treatment ships when

* at least one success metric improves significantly, at α Bonferroni-corrected over the success
  metrics × treatment arms (the family the "at least one" ranges over), and
* every guardrail is significantly non-inferior: one-sided at α against its margin, without
  correction (all of them must pass, an intersection-union test, so no correction is needed),
* and no success metric or guardrail deteriorates significantly (one-sided at α against no
  change).

A success metric that deteriorates rolls the treatment back; a guardrail that deteriorates
holds it (the trade-off is for its owners). Anything else holds: no success metric improved,
or a guardrail's non-inferiority is not shown (a guardrail with no margin can never show it).
Several treatments: Launch the qualifying one with the largest relative improvement; Rollback
when every treatment rolls back; else Hold. Health (blocked data, sample ratio mismatch) comes
first, exactly as under the default rules.

Deterioration is tested one-sided: half the two-sided p of the metric's test when it moved the
harmful way (exact for the z- and Welch tests, whose statistic is symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from experimentos.analysis import decision_rules as decision
from experimentos.formatting import pct, pvalue
from experimentos.model import (
    GuardrailResult,
    HealthReport,
    MetricResult,
    Thresholds,
    Verdict,
    VerdictKind,
)

RULE_NAME = "risk-aware rule (Schultzberg et al. 2024)"


@dataclass(frozen=True, slots=True)
class _ArmCall:
    arm: str
    kind: VerdictKind
    rule: int
    reason: str
    gain: float
    """The largest relative improvement among the significant success metrics."""


def success_alpha(alpha: float, comparisons: int) -> float:
    """α per success comparison: Bonferroni over success metrics × treatment arms."""
    return alpha / max(comparisons, 1)


def deterioration_p(metric: MetricResult, *, higher_is_better: bool = True) -> float:
    """One-sided p of "the metric got worse" from the two-sided p of its test."""
    p = metric.comparison.p_value
    harmful = metric.comparison.abs_lift < 0 if higher_is_better else metric.comparison.abs_lift > 0
    return p / 2 if harmful else 1 - p / 2


def decide_risk_aware(
    *,
    health: HealthReport,
    success: tuple[MetricResult, ...],
    guardrails: tuple[GuardrailResult, ...],
    thresholds: Thresholds,
) -> Verdict:
    """Launch / Hold / Rollback by the risk-aware rule (see the module docstring).

    ``success`` holds one result per success metric and treatment arm, with its raw two-sided
    p-value in ``comparison.p_value``; ``guardrails`` carry their non-inferiority p-values.
    """
    if health.blocked or health.srm_flagged:  # rules 1 and 2 of the default rules, unchanged
        early = decision.decide(
            health=health, primary=(), guardrails=(), sequential=None, thresholds=thresholds
        )
        return replace(early, decision_rule="risk-aware")
    alpha = thresholds.alpha
    per_test = success_alpha(alpha, len(success))
    arms = list(dict.fromkeys(m.arm for m in success))
    calls = [
        _judge(
            arm,
            [m for m in success if m.arm == arm],
            [g for g in guardrails if g.metric.arm == arm],
            alpha=alpha,
            per_test=per_test,
            corrected_over=len(success),
        )
        for arm in arms
    ]
    reasons = tuple(c.reason for c in calls)
    launches = [c for c in calls if c.kind == "launch"]
    if launches:
        best = max(launches, key=lambda c: c.gain)
        return Verdict(
            kind="launch",
            rule=6,
            reason=_named(best.reason if len(calls) == 1 else f"{best.arm} wins: {best.reason}"),
            reasons=reasons,
            next_actions=_launch_actions(best.arm, guardrails),
            arm=best.arm,
            decision_rule="risk-aware",
        )
    if calls and all(c.kind == "rollback" for c in calls):
        return Verdict(
            kind="rollback",
            rule=3,
            reason=_named(
                calls[0].reason
                if len(calls) == 1
                else "every treatment hurts: " + "; ".join(reasons)
            ),
            reasons=reasons,
            next_actions=decision._ROLLBACK_ACTIONS,
            arm=calls[0].arm,
            decision_rule="risk-aware",
        )
    if not calls:
        reason = "no success metric could be tested."
    elif len(calls) == 1:
        reason = calls[0].reason
    else:
        reason = "no treatment qualifies: " + "; ".join(reasons)
    blocked_by_guardrail = [c for c in calls if c.rule == 5]
    return Verdict(
        kind="hold",
        rule=5 if blocked_by_guardrail else 7,
        reason=_named(reason),
        reasons=reasons,
        next_actions=_HOLD_GUARDRAIL_ACTIONS if blocked_by_guardrail else _HOLD_ACTIONS,
        arm=blocked_by_guardrail[0].arm if blocked_by_guardrail else None,
        decision_rule="risk-aware",
    )


def _named(reason: str) -> str:
    return f"{RULE_NAME}: {reason}"


def _judge(
    arm: str,
    success: list[MetricResult],
    guardrails: list[GuardrailResult],
    *,
    alpha: float,
    per_test: float,
    corrected_over: int,
) -> _ArmCall:
    worse = [m for m in success if deterioration_p(m) < alpha]
    if worse:
        what = ", ".join(
            f"{m.name} ({pct(m.comparison.rel_lift)}, one-sided p = {deterioration_p(m):.3g})"
            for m in worse
        )
        return _ArmCall(arm, "rollback", 3, f"{arm} significantly worsens {what}.", 0.0)
    harmed = [
        g
        for g in guardrails
        if deterioration_p(g.metric, higher_is_better=g.higher_is_better) < alpha
    ]
    if harmed:
        what = ", ".join(
            f"{g.metric.name} ({pct(g.metric.comparison.rel_lift)}, one-sided p = "
            f"{deterioration_p(g.metric, higher_is_better=g.higher_is_better):.3g})"
            for g in harmed
        )
        return _ArmCall(arm, "hold", 5, f"{arm} significantly worsens guardrail {what}.", 0.0)
    improved = [m for m in success if m.comparison.abs_lift > 0 and m.comparison.p_value < per_test]
    unshown = [g for g in guardrails if not _non_inferior(g, alpha)]
    family = (
        f"α = {per_test:.4g} (Bonferroni over {corrected_over} success comparisons)"
        if corrected_over > 1
        else f"α = {per_test:.4g}"
    )
    if not improved:
        tested = ", ".join(
            f"{m.name} {pct(m.comparison.rel_lift)} ({pvalue(m.comparison.p_value)})"
            for m in success
        )
        return _ArmCall(
            arm,
            "hold",
            7,
            f"{arm}: no success metric improves significantly at {family}: {tested}.",
            0.0,
        )
    lifts = ", ".join(
        f"{m.name} {pct(m.comparison.rel_lift)} ({pvalue(m.comparison.p_value)})" for m in improved
    )
    gain = max(m.comparison.rel_lift for m in improved)
    if unshown:
        return _ArmCall(
            arm,
            "hold",
            7,
            f"{arm} improves {lifts} at {family} but non-inferiority is not shown for "
            f"{', '.join(_why_not(g) for g in unshown)}.",
            gain,
        )
    shown = (
        "every guardrail is non-inferior ("
        + ", ".join(
            f"{g.metric.name} within {g.margin_rel:.1%}, one-sided p = {g.margin_p_value:.3g}"
            for g in guardrails
        )
        + ")"
        if guardrails
        else "no guardrails named"
    )
    return _ArmCall(arm, "launch", 6, f"{arm} improves {lifts} at {family}; {shown}.", gain)


def _non_inferior(guardrail: GuardrailResult, alpha: float) -> bool:
    p = guardrail.margin_p_value
    return guardrail.margin_rel is not None and p is not None and p < alpha


def _why_not(guardrail: GuardrailResult) -> str:
    if guardrail.margin_rel is None or guardrail.margin_p_value is None:
        return f"{guardrail.metric.name} (no testable non-inferiority margin)"
    return (
        f"{guardrail.metric.name} (margin {guardrail.margin_rel:.1%}, one-sided "
        f"p = {guardrail.margin_p_value:.3g})"
    )


def _launch_actions(arm: str, guardrails: tuple[GuardrailResult, ...]) -> tuple[str, ...]:
    watch = ", ".join(dict.fromkeys(g.metric.name for g in guardrails if g.metric.arm == arm))
    return (
        f"Roll {arm} out in stages: 10% → 50% → 100%, a day or more at each step.",
        f"Watch {watch or 'the key health metrics'} at each step; roll back if any worsens.",
    )


_HOLD_ACTIONS = (
    "Keep the experiment running; do not ship on this result.",
    "Give every guardrail a non-inferiority margin (margins: name=1%) so it can be shown safe.",
    "Size the experiment for the rule: experimentos power --success-metrics S "
    "--guardrail-metrics G.",
)
_HOLD_GUARDRAIL_ACTIONS = (
    "Investigate why the guardrail worsened before any rollout.",
    "Decide with the guardrail owners whether the trade-off is acceptable, and record the "
    "decision with its reason.",
    "Or fix the cause and rerun the experiment.",
)
