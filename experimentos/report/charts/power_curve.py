"""Power curve: users needed per variant as the minimum detectable effect varies (SPEC §2.10).

Each point is :func:`experimentos.stats.power.plan_sample_size` with the plan's design and a
different MDE (0.5× to 2× the requested one), so the curve and the plan can never disagree.
Sample size grows as 1/MDE²: halving the effect quadruples the users.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from experimentos.report.charts._style import FONT_PT, OKABE_ITO, SMALL_PT, new_figure, png_bytes
from experimentos.stats.power import SampleSizePlan, plan_sample_size

_FACTORS = np.unique(np.concatenate([np.linspace(0.5, 2.0, 46), [1.0]]))


def power_curve_figure(plan: SampleSizePlan) -> Figure:
    """Users per variant (largest arm) against MDE, with the requested plan marked and labelled."""
    mdes, users = _curve(plan)
    figure = new_figure(5.0)
    axes = figure.add_axes((0.1, 0.13, 0.86, 0.7))
    requested = max(plan.users_per_variant)
    axes.plot(
        mdes, users, color=OKABE_ITO["blue"], linewidth=2.4, label="fixed horizon", gid="curve"
    )
    label = [f"requested: {_mde_text(plan, plan.mde)} → {requested:,} {_per(plan)}"]
    if plan.days is not None:
        label[0] += f" · {plan.days:,} days"
    if plan.inflation_factor and plan.max_users_per_variant:
        top = max(plan.max_users_per_variant)
        sequential = [u * plan.inflation_factor for u in users]
        axes.plot(
            mdes,
            sequential,
            color=OKABE_ITO["orange"],
            linewidth=2,
            linestyle="--",
            label=f"maximum with {plan.looks} looks",
            gid="curve-sequential",
        )
        axes.plot(
            [plan.mde],
            [top],
            marker="s",
            markersize=8,
            color=OKABE_ITO["orange"],
            markeredgecolor="black",
            linestyle="none",
            gid="requested-sequential",
        )
        days = f" · {plan.max_days:,} days" if plan.max_days is not None else ""
        label.append(f"at most {top:,} with {plan.looks} looks{days}")
    axes.plot([plan.mde, plan.mde], [0, requested], color="#777777", linestyle=":", linewidth=1.2)
    axes.plot(
        [plan.mde],
        [requested],
        marker="o",
        markersize=10,
        color=OKABE_ITO["vermillion"],
        markeredgecolor="black",
        linestyle="none",
        label="requested",
        gid="requested",
    )
    _style(axes, plan)
    _annotate(axes, plan.mde, requested, "\n".join(label))
    _titles(figure, plan)
    return figure


def power_curve_png(plan: SampleSizePlan) -> bytes:
    """:func:`power_curve_figure` as PNG bytes."""
    return png_bytes(power_curve_figure(plan))


def _curve(plan: SampleSizePlan) -> tuple[list[float], list[int]]:
    """(MDE, users in the largest arm) over 0.5×–2× the requested MDE, feasible points only."""
    mdes, users = [], []
    for factor in _FACTORS:
        mde = float(plan.mde * factor)
        try:
            point = plan_sample_size(
                baseline=plan.baseline,
                mde=mde,
                relative=plan.relative,
                alpha=plan.alpha,
                power=plan.power,
                variants=plan.variants,
                split=plan.split,
                sd=plan.sd,
                success_metrics=plan.success_metrics,
                guardrail_metrics=plan.guardrail_metrics,
            )
        except ValueError:  # baseline + MDE left (0, 1)
            continue
        mdes.append(mde)
        users.append(max(point.users_per_variant))
    return mdes, users


def _annotate(axes: Axes, x: float, y: float, text: str) -> None:
    """The label beside the requested point, on the side with more room."""
    where = axes.transAxes.inverted().transform(axes.transData.transform((x, y)))
    right_half = where[0] > 0.5
    axes.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(-14, 16) if right_half else (14, 16),
        ha="right" if right_half else "left",
        fontsize=FONT_PT,
        weight="bold",
        arrowprops={"arrowstyle": "-", "color": "#555555"},
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#bbbbbb"},
    )


def _per(plan: SampleSizePlan) -> str:
    return "per variant" if len(set(plan.split)) == 1 else "in the largest arm"


def _mde_text(plan: SampleSizePlan, mde: float) -> str:
    if plan.relative:
        return f"{mde * 100:+.3g}% relative"
    if plan.metric_kind == "proportion":
        return f"{mde * 100:+.3g} pp"
    return f"{mde:+.3g}"


def _style(axes: Axes, plan: SampleSizePlan) -> None:
    axes.set_ylim(bottom=0)
    if plan.mde < 0:  # sizing a drop: larger drops to the right, as for a rise
        axes.invert_xaxis()
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _mde_tick(plan, v)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _users_tick(v)))
    unit = (
        "relative, % of baseline"
        if plan.relative
        else ("absolute, percentage points" if plan.metric_kind == "proportion" else "absolute")
    )
    axes.set_xlabel(f"minimum detectable effect ({unit})", fontsize=SMALL_PT)
    axes.set_ylabel(f"users {_per(plan)}", fontsize=SMALL_PT)
    axes.tick_params(labelsize=SMALL_PT)
    axes.grid(color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="upper right", frameon=False, fontsize=SMALL_PT)


def _mde_tick(plan: SampleSizePlan, value: float) -> str:
    if plan.relative:
        return f"{value * 100:.3g}%"
    return f"{value * 100:.3g} pp" if plan.metric_kind == "proportion" else f"{value:.3g}"


def _users_tick(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    return f"{value / 1000:.3g}k" if value >= 1000 else f"{value:.0f}"


def _titles(figure: Figure, plan: SampleSizePlan) -> None:
    height = figure.get_figheight()
    base = f"{plan.baseline:.2%}" if plan.metric_kind == "proportion" else f"{plan.baseline:g}"
    design = [f"baseline {base}", f"α = {plan.alpha:g} two-sided", f"power {plan.power:.0%}"]
    if plan.variants > 2:
        design.append(f"{plan.variants} variants (Bonferroni α = {plan.alpha_per_comparison:.3g})")
    if plan.mde < 0:
        design.append("sizing a drop (negative MDE)")
    if len(set(plan.split)) > 1:
        design.append("split " + "/".join(f"{s:.0%}" for s in plan.split))
    figure.text(
        0.012,
        1 - 0.3 / height,
        "Users needed to detect an effect",
        fontsize=14,
        weight="bold",
        va="top",
    )
    figure.text(
        0.012, 1 - 0.62 / height, " · ".join(design), fontsize=SMALL_PT, va="top", color="#444444"
    )
