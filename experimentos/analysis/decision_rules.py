"""The decision rules of SPEC §2.9: the first rule that applies wins.

1. Health Blocked → Hold (fix the data).
2. SRM Warning or Blocked → Hold (investigate assignment). An SRM at the Blocked level blocks the
   health too; when it is the only blocking finding, this rule's reason and actions are given.
3. Primary significant, lift < 0 → Rollback.
4. Primary significant, lift > 0, any severe guardrail → Rollback.
5. Primary significant, lift > 0, any worsened guardrail → Hold.
6. Primary significant, lift > 0, no worsened guardrail → Launch.
7. Primary not significant → Hold (with the sample still needed to detect the observed lift).
Several treatments: Launch the best qualifying one (largest significant lift, rule 6); Rollback
when every treatment is rolled back; else Hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from experimentos.analysis.remaining import ArmStats, Horizon, Remaining, next_action, remaining
from experimentos.formatting import delta, pct, pvalue
from experimentos.model import (
    GuardrailResult,
    HealthReport,
    LookStatus,
    MetricResult,
    Thresholds,
    Verdict,
    VerdictKind,
)


@dataclass(frozen=True, slots=True)
class _ArmCall:
    arm: str
    kind: VerdictKind
    rule: int
    reason: str
    lift: float


def decide(
    *,
    health: HealthReport,
    primary: tuple[MetricResult, ...],
    guardrails: tuple[GuardrailResult, ...],
    sequential: LookStatus | None,
    thresholds: Thresholds,
    horizon: Horizon | None = None,
) -> Verdict:
    blocked_by = [f for f in health.findings if f.severity == "blocked"]
    if blocked_by and not all(f.code.startswith("srm") for f in blocked_by):
        blocking = [f.message for f in blocked_by]
        return Verdict(
            kind="hold",
            rule=1,
            reason="The data is blocked: fix it before deciding.",
            reasons=tuple(blocking),
            next_actions=tuple(f"Fix: {m}" for m in blocking[:5]),
        )
    if health.srm_flagged:
        srm = next(f.message for f in health.findings if f.code.startswith("srm"))
        return Verdict(
            kind="hold",
            rule=2,
            reason="Sample ratio mismatch: the arms are not the sizes the split promises.",
            reasons=(srm,),
            next_actions=_SRM_ACTIONS,
        )
    calls = [_judge(m, _of_arm(guardrails, m.arm), sequential) for m in primary]
    reasons = tuple(c.reason for c in calls)
    launches = [c for c in calls if c.kind == "launch"]
    if launches:
        best = max(launches, key=lambda c: c.lift)
        metric = next(m for m in primary if m.arm == best.arm)
        return Verdict(
            kind="launch",
            rule=6,
            reason=best.reason if len(calls) == 1 else f"{best.arm} wins: {best.reason}",
            reasons=reasons,
            next_actions=_launch_actions(_of_arm(guardrails, best.arm), metric),
            arm=best.arm,
        )
    if calls and all(c.kind == "rollback" for c in calls):
        worst = min(calls, key=lambda c: c.rule)
        return Verdict(
            kind="rollback",
            rule=worst.rule,
            reason=worst.reason
            if len(calls) == 1
            else "Every treatment hurts: " + _joined(c.reason for c in calls),
            reasons=reasons,
            next_actions=_ROLLBACK_ACTIONS,
            arm=worst.arm,
        )
    return _hold(calls, primary, guardrails, thresholds, reasons, horizon or Horizon())


_RULES = {
    1: "the data is blocked and must be fixed first",
    2: "the arms are not the sizes the split promises (sample ratio mismatch) and the assignment "
    "must be checked first",
    3: "the primary metric worsened significantly",
    4: "the primary improved significantly but a guardrail worsened severely",
    5: "the primary improved significantly but a guardrail worsened",
    6: "the primary improved significantly and no guardrail worsened",
    7: "the primary did not change significantly",
}
_RISK_AWARE_RULES = {
    3: "a success metric worsened significantly",
    5: "a guardrail worsened significantly",
    6: "a success metric improved significantly and every guardrail is shown non-inferior",
    7: "no success metric improved significantly, or a guardrail is not shown non-inferior",
}


def rule_in_words(verdict: Verdict, *, guardrails: int) -> str:
    """The rule that decided ``verdict`` as one plain sentence (SPEC §2.9 in words, for readers
    who do not have the SPEC), e.g. "Rule: the primary improved significantly and no guardrail
    worsened, so the verdict is Launch." ``guardrails`` is the number of guardrails checked: with
    none, a Launch does not claim that none worsened."""
    if verdict.decision_rule == "risk-aware":
        words = _RISK_AWARE_RULES.get(verdict.rule, _RULES.get(verdict.rule, ""))
        head = "Rule (risk-aware)"
    else:
        words = _RULES.get(verdict.rule, "")
        head = "Rule"
    if verdict.rule == 6 and not guardrails and verdict.decision_rule != "risk-aware":
        words = "the primary improved significantly (no guardrail was checked)"
    return f"{head}: {words}, so the verdict is {verdict.label}."


def _of_arm(guardrails: tuple[GuardrailResult, ...], arm: str) -> list[GuardrailResult]:
    return [g for g in guardrails if g.metric.arm == arm]


def _judge(
    metric: MetricResult, guardrails: list[GuardrailResult], sequential: LookStatus | None
) -> _ArmCall:
    c = metric.comparison
    lift = (
        f"{metric.name} {delta(c.abs_lift, metric.kind)} ({pct(c.rel_lift)}, "
        f"{pvalue(metric.p_value_adjusted)})"
    )
    if not metric.significant:
        nominal = metric.p_value_adjusted < 0.05
        if sequential is not None and nominal:
            needs = (
                f"needs |z| ≥ {sequential.boundary_z:.2f}"
                if math.isfinite(sequential.boundary_z)
                else "spends no α (too early in the plan to stop at any z)"
            )
            why = (
                f"{metric.arm}: {lift} is not yet conclusive: look {sequential.look} of "
                f"{sequential.of_looks} {needs}."
            )
        else:
            why = f"{metric.arm}: {lift} is not significant."
        return _ArmCall(metric.arm, "hold", 7, why, c.abs_lift)
    if c.abs_lift < 0:
        return _ArmCall(metric.arm, "rollback", 3, f"{metric.arm} hurts {lift}.", c.abs_lift)
    severe = [g.metric.name for g in guardrails if g.status == "severe"]
    if severe:
        why = f"{metric.arm} lifts {lift} but severely worsens {', '.join(severe)}."
        return _ArmCall(metric.arm, "rollback", 4, why, c.abs_lift)
    worsened = [g.metric.name for g in guardrails if g.status == "worsened"]
    if worsened:
        why = f"{metric.arm} lifts {lift} but worsens {', '.join(worsened)}."
        return _ArmCall(metric.arm, "hold", 5, why, c.abs_lift)
    checked = "no guardrail worsened" if guardrails else "no guardrail was checked"
    return _ArmCall(metric.arm, "launch", 6, f"{metric.arm} lifts {lift}; {checked}.", c.abs_lift)


def _hold(
    calls: list[_ArmCall],
    primary: tuple[MetricResult, ...],
    guardrails: tuple[GuardrailResult, ...],
    thresholds: Thresholds,
    reasons: tuple[str, ...],
    horizon: Horizon,
) -> Verdict:
    guarded = [c for c in calls if c.rule == 5]
    if guarded:
        names = sorted(
            {
                g.metric.name
                for c in guarded
                for g in _of_arm(guardrails, c.arm)
                if g.status == "worsened"
            }
        )
        return Verdict(
            kind="hold",
            rule=5,
            reason=guarded[0].reason
            if len(calls) == 1
            else "No treatment qualifies: " + _joined(c.reason for c in calls),
            reasons=reasons,
            next_actions=(
                f"Investigate why {', '.join(names)} worsened before any rollout.",
                "Decide with the guardrail owners whether the trade-off is acceptable, and record "
                "the decision with its reason.",
                "Or fix the cause and rerun the experiment.",
            ),
            arm=guarded[0].arm,
        )
    to_go = _to_go(primary, thresholds, horizon)
    needed = to_go.needed_per_arm if to_go is not None else None
    actions = ["Keep the experiment running; do not ship on this result."]
    if to_go is not None:
        actions.insert(0, next_action(to_go, kind=primary[0].kind))
    else:
        actions.insert(0, "No lift was observed: consider stopping and keeping control.")
    reason = (
        calls[0].reason
        if len(calls) == 1
        else "No treatment qualifies: " + _joined(c.reason for c in calls)
    )
    return Verdict(
        kind="hold",
        rule=7,
        reason=reason,
        reasons=reasons,
        next_actions=tuple(actions),
        sample_needed_per_arm=needed,
    )


def _to_go(
    primary: tuple[MetricResult, ...], thresholds: Thresholds, horizon: Horizon
) -> Remaining | None:
    """Users (and days) per arm to detect the planned MDE, else the largest observed lift, at
    80% power under the chosen method (SPEC §2.10; experimentos.analysis.remaining)."""
    if not primary:
        return None
    control = primary[0].control
    variance = _per_user_variance(primary[0])
    if variance is not None and not (math.isfinite(variance) and variance > 0):
        return None  # no spread to size a sample from (every user the same value)
    return remaining(
        ArmStats(control.n, control.value, variance),
        [ArmStats(m.treatment.n, m.treatment.value, variance) for m in primary],
        observed_lifts=[m.comparison.abs_lift for m in primary],
        horizon=horizon,
        alpha=thresholds.alpha,
    )


def _per_user_variance(metric: MetricResult) -> float | None:
    """None for a rate (its variance is p(1 − p)); for a mean or a ratio, the per-user variance
    σ² that gives the comparison's standard error with both arms alike, SE² = σ²(1/n_c + 1/n_t)
    (CUPED's adjusted variance when the metric was adjusted, the delta method's for a ratio)."""
    if metric.kind == "proportion":
        return None
    se = metric.comparison.standard_error
    return se * se / (1 / metric.control.n + 1 / metric.treatment.n)


def _launch_actions(guardrails: list[GuardrailResult], metric: MetricResult) -> tuple[str, ...]:
    watch = ", ".join(g.metric.name for g in guardrails) or "the key health metrics"
    return (
        f"Roll {metric.arm} out in stages: 10% → 50% → 100%, a day or more at each step.",
        f"Watch {watch} at each step; roll back if any worsens.",
        f"Confirm {metric.name} holds near {delta(metric.comparison.abs_lift, metric.kind)} "
        "after full rollout.",
    )


_SRM_ACTIONS = (
    "Check the assignment: bucketing code, redirects, bot filtering, and when each arm started.",
    "Check that the export counts users the same way in every arm.",
    "Rerun the analysis once the cause is found; do not decide on this data.",
)
_ROLLBACK_ACTIONS = (
    "Turn the treatment off now and return all traffic to control.",
    "Root cause: check for bugs, performance regressions and broken flows in the treatment.",
    "Check whether the harm is concentrated in one platform, country or segment.",
    "Write down what was learned before any new attempt.",
)


def _joined(reasons: Iterable[str]) -> str:
    """Per-arm reasons as one sentence list: "a is not significant; b hurts x." (each reason's
    own full stop dropped, one at the end)."""
    return "; ".join(r.rstrip(".") for r in reasons) + "."
