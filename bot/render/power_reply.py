"""The answer to ``/experiment power …``: sample size per variant, total and duration."""

from __future__ import annotations

from typing import Any, Protocol

from slack_sdk.models.blocks import Block

from bot.render import blocks as b
from bot.render.format import count, days, esc, number, pct, pp, signed_pct
from experimentos.power_args import PowerRequest

ACTION_SHARE = "power_share"


class SampleSizePlanLike(Protocol):
    """What the renderer reads of ``experimentos.stats.power.SampleSizePlan``."""

    users_per_variant: tuple[int, ...]
    total_users: int
    days: float | None
    mde_absolute: float
    mde_relative: float
    alpha_per_comparison: float


def render_power(
    request: PowerRequest, plan: Any, *, command_text: str, shared_by: str | None = None
) -> list[Block]:
    """The plan, its parameters and (unless already shared) a button to share it in the channel."""
    parts: list[Block] = [
        b.section(_headline(request, plan)),
        b.context(_parameters(request, plan)),
    ]
    if shared_by is not None:
        parts.append(
            b.context(f"Shared by <@{esc(shared_by)}> · `/experiment power {esc(command_text)}`")
        )
    else:
        parts.append(
            b.actions(b.button("Share in channel", action_id=ACTION_SHARE, value=command_text))
        )
    return parts


def power_alt_text(plan: Any) -> str:
    """What the power curve shows, for screen readers (plain text)."""
    effect = (
        number(plan.mde_absolute)
        if getattr(plan, "sd", None) is not None
        else pp(plan.mde_absolute)
    )
    return (
        f"Power curve: the minimum detectable effect shrinks as users per variant grow; at "
        f"{count(plan.users_per_variant[0])} users per variant an effect of {effect} is "
        f"detected with {plan.power * 100:g}% power."
    )


def power_text(plan: Any) -> str:
    return f"Sample size: {count(plan.users_per_variant[0])} users per variant, {count(plan.total_users)} in total."


def _headline(request: PowerRequest, plan: Any) -> str:
    sizes = tuple(plan.users_per_variant)
    if len(set(sizes)) == 1:
        per_variant = f"*{count(sizes[0])} users per variant*"
    else:
        per_variant = (
            "*" + " · ".join(f"arm {i + 1}: {count(n)}" for i, n in enumerate(sizes)) + "*"
        )
    text = f":bar_chart: {per_variant} · {count(plan.total_users)} in total"
    plan_days = getattr(plan, "days", None)
    if plan_days is not None and request.daily_users:
        text += f" · *{days(plan_days)}* at {count(request.daily_users)} users a day"
    elif not request.daily_users:
        text += "\n_Add `daily=20000` (users a day) to get the duration._"
    return text


def _parameters(request: PowerRequest, plan: Any) -> str:
    if request.sd is None:
        baseline = f"baseline {pct(request.baseline)}"
        mde = f"MDE {pp(plan.mde_absolute)} ({signed_pct(plan.mde_relative)} relative)"
    else:
        baseline = f"baseline mean {number(request.baseline)}, sd {number(request.sd)}"
        mde = f"MDE {number(plan.mde_absolute)} ({signed_pct(plan.mde_relative)} relative)"
    parts = [
        baseline,
        mde,
        f"α {request.alpha:g} two-sided",
        f"power {request.power * 100:g}%",
        f"{request.variants} variants",
    ]
    if request.variants > 2 and not _risk_aware(plan):
        parts.append(f"α {plan.alpha_per_comparison:.4g} per comparison (Bonferroni)")
    if _risk_aware(plan):
        parts.append(_risk_aware_sizing(plan))
    if request.split:
        parts.append("split " + "/".join(f"{s * 100:g}" for s in request.split))
    if request.looks:
        parts.append(f"{request.looks} looks ({request.spending})")
    return " · ".join(parts)


def _risk_aware(plan: Any) -> bool:
    return getattr(plan, "success_metrics", 1) > 1 or getattr(plan, "guardrail_metrics", 0) > 0


def _risk_aware_sizing(plan: Any) -> str:
    """How the risk-aware rule sized the test (Schultzberg, Ankargren & Frånberg 2024)."""
    success, guardrails = plan.success_metrics, plan.guardrail_metrics
    per_test = plan.power_per_test if plan.power_per_test is not None else plan.power
    return (
        f"sized for the risk-aware rule: {success} success metric{'s' if success != 1 else ''} "
        f"(α {plan.alpha_per_comparison:.4g} per test, Bonferroni) and {guardrails} "
        f"guardrail{'s' if guardrails != 1 else ''} (power {per_test * 100:.4g}% per test, "
        "so the whole decision keeps its power)"
    )
