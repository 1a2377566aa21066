"""Forest plot: every metric's relative lift vs control with its 95% CI, one row per metric × arm.

Relative lift puts a conversion rate, an error rate and revenue on one axis. Guardrail
thresholds (set in pp) are drawn on their own row converted to relative lift with that row's
control rate (see :mod:`experimentos.report.charts.rows`), so the reader sees at a glance whether the
interval reaches the line; the pp values are in the legend and in each row's right-hand text.
Colour follows status (Okabe–Ito palette) and is doubled by marker shape and words.
"""

from __future__ import annotations

import math

from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from experimentos.formatting import display_label, display_text, pct
from experimentos.model import Analysis
from experimentos.report.charts._style import (
    FONT_PT,
    OKABE_ITO,
    SMALL_PT,
    STATUS_COLOURS,
    STATUS_MARKERS,
    message_figure,
    new_figure,
    plain,
    png_bytes,
    shorten,
)
from experimentos.report.charts.rows import ForestRow, forest_rows

ROW_IN, HEADER_UNITS = 0.52, 0.8
TOP_IN, BOTTOM_IN, LEFT_IN, RIGHT_IN = 0.95, 1.25, 2.5, 2.45
LABEL_GAP_IN = 0.2
"""Room between the picture's left edge and the widest row label, plus the tick padding."""
VERDICT_COLOURS = {
    "launch": OKABE_ITO["bluish_green"],
    "hold": OKABE_ITO["orange"],
    "rollback": OKABE_ITO["vermillion"],
}
_LEGEND_TEXT = {
    "significant_up": "primary: significant increase",
    "significant_down": "primary: significant decrease",
    "not_significant": "primary: not significant",
    "ok": "guardrail ok",
    "worsened": "guardrail worsened",
    "severe": "guardrail severe",
    "secondary": "reported only",
}
_THRESHOLD_STYLE = {"worsened": "--", "severe": "-", "margin": ":"}
_THRESHOLD_NAME = {
    "worsened": "worsened threshold",
    "severe": "severe threshold",
    "margin": "non-inferiority margin",
}


def forest_figure(analysis: Analysis) -> Figure:
    """Relative lift and 95% CI of every metric × arm, coloured by status (see module doc)."""
    rows = forest_rows(analysis)
    if not rows:
        return _blocked_figure(analysis)
    positions, headers, units = _layout(rows)
    figure = new_figure(TOP_IN + BOTTOM_IN + units * ROW_IN)
    width, height = figure.get_size_inches()
    axes = figure.add_axes(
        (
            LEFT_IN / width,
            BOTTOM_IN / height,
            1 - (LEFT_IN + RIGHT_IN) / width,
            1 - (TOP_IN + BOTTOM_IN) / height,
        )
    )
    axes.set_ylim(-units + 0.1, 0.1)
    _draw_rows(axes, rows, positions)
    _draw_headers(figure, axes, headers)
    _style_axes(axes, rows, positions)
    _reserve_label_room(figure, axes)
    _title(figure, analysis)
    _legend(figure, rows)
    return figure


def forest_png(analysis: Analysis) -> bytes:
    """The forest plot as PNG bytes (900 px wide)."""
    return png_bytes(forest_figure(analysis))


def _layout(rows: tuple[ForestRow, ...]) -> tuple[list[float], list[tuple[str, float]], float]:
    """y of each row and of each group header (0 at the top, one unit per row)."""
    positions, headers, y, group = [], [], 0.0, None
    for row in rows:
        if row.group != group:
            group = row.group
            headers.append((group, y - HEADER_UNITS / 2))
            y -= HEADER_UNITS
        positions.append(y - 0.5)
        y -= 1.0
    return positions, headers, -y + 0.2


def _draw_rows(axes, rows: tuple[ForestRow, ...], positions: list[float]) -> None:  # type: ignore[no-untyped-def]
    text_at = blended_transform_factory(axes.transAxes, axes.transData)
    for row, y in zip(rows, positions, strict=True):
        colour = STATUS_COLOURS[row.status]
        low, high = row.ci
        for kind, x, _ in row.thresholds:
            axes.vlines(
                x,
                y - 0.36,
                y + 0.36,
                colors=STATUS_COLOURS[kind],
                linewidth=2.2,
                linestyles=_THRESHOLD_STYLE[kind],
                zorder=4,
                gid=f"threshold-{kind}",
                path_effects=[patheffects.withStroke(linewidth=4.5, foreground="white")],
            )
        if math.isfinite(row.lift):
            spans = [[row.lift - low], [high - row.lift]]
            axes.errorbar(
                row.lift,
                y,
                xerr=spans if math.isfinite(low + high) else None,
                fmt=STATUS_MARKERS[row.status],
                color=colour,
                markersize=9,
                capsize=4,
                elinewidth=2.4,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=3,
                label=f"_row {row.group}|{row.name}|{row.arm}",
            )
            value = f"{pct(row.lift)}  [{pct(low)}, {pct(high)}]"
        else:
            value = "n/a (control is 0)"
        axes.text(1.02, y + 0.17, value, transform=text_at, fontsize=FONT_PT, va="center")
        axes.text(
            1.02,
            y - 0.2,
            shorten(row.delta_text, 30),
            transform=text_at,
            fontsize=SMALL_PT,
            va="center",
            color="#444444",
        )


def _draw_headers(figure: Figure, axes, headers: list[tuple[str, float]]) -> None:  # type: ignore[no-untyped-def]
    at = blended_transform_factory(figure.transFigure, axes.transData)
    for i, (title, y) in enumerate(headers):
        figure.text(
            0.012,
            y,
            title.upper(),
            transform=at,
            fontsize=SMALL_PT,
            weight="bold",
            va="center",
            color="#333333",
        )
        if i:
            axes.axhline(y + HEADER_UNITS / 2, color="#cccccc", linewidth=0.8, zorder=1)


def _style_axes(axes, rows: tuple[ForestRow, ...], positions: list[float]) -> None:  # type: ignore[no-untyped-def]
    values = [0.0]
    for row in rows:
        values += [row.lift, *row.ci, *(x for _, x, _ in row.thresholds)]
    finite = [v for v in values if math.isfinite(v)]
    low, high = min(finite), max(finite)
    pad = max(high - low, 0.02) * 0.08
    axes.set_xlim(low - pad, high + pad)
    axes.axvline(0.0, color="black", linewidth=1.1, zorder=1, gid="zero-line")
    axes.set_yticks(positions, [_wrapped(plain(r.label)) for r in rows], fontsize=FONT_PT)
    axes.tick_params(axis="y", length=0)
    decimals = 1 if (high - low) < 0.08 else 0
    axes.xaxis.set_major_locator(MaxNLocator(nbins=7))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _percent(v, decimals)))
    axes.tick_params(axis="x", labelsize=SMALL_PT)
    axes.set_xlabel("relative lift vs control (95% CI)", fontsize=SMALL_PT)
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)


def _wrapped(label: str, *, width: int = 30) -> str:
    """A label longer than ``width`` characters on two lines, broken at the space nearest its
    middle ("sum_gamerounds (capped at p99.9)" → "sum_gamerounds" / "(capped at p99.9)")."""
    spaces = [i for i, c in enumerate(label) if c == " "]
    if len(label) <= width or not spaces:
        return label
    cut = min(spaces, key=lambda i: abs(len(label) - 2 * i))
    return label[:cut] + "\n" + label[cut + 1 :]


def _reserve_label_room(figure: Figure, axes) -> None:  # type: ignore[no-untyped-def]
    """Widen the left margin to the widest row label as drawn (measured, not guessed from its
    characters), so no label is cut at the picture's left edge (labels are at most 40
    characters, two lines when long: 0.45 of the width holds them)."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    widest = max((t.get_window_extent(renderer).width for t in axes.get_yticklabels()), default=0.0)
    width = figure.get_size_inches()[0]
    left = min(max(LEFT_IN, widest / figure.dpi + LABEL_GAP_IN), 0.45 * width)
    box = axes.get_position()
    axes.set_position((left / width, box.y0, 1 - (left + RIGHT_IN) / width, box.height))


def _percent(value: float, decimals: int) -> str:
    return "0%" if abs(value) < 1e-12 else f"{value * 100:+.{decimals}f}%"


def _title(figure: Figure, analysis: Analysis) -> None:
    height = figure.get_figheight()
    e, verdict = analysis.experiment, analysis.verdict
    figure.text(
        0.012,
        1 - 0.3 / height,
        plain(shorten(display_label(e.name), 60)),
        fontsize=14,
        weight="bold",
        va="top",
    )
    figure.text(
        0.988,
        1 - 0.3 / height,
        verdict.label.upper(),
        fontsize=14,
        weight="bold",
        va="top",
        ha="right",
        color=VERDICT_COLOURS[verdict.kind],
    )
    look = f"Look {e.look} of {e.of_looks} · " if e.look and e.of_looks else ""
    subtitle = plain(look + shorten(display_text(verdict.reason), 120 - len(look)))
    figure.text(0.012, 1 - 0.62 / height, subtitle, fontsize=SMALL_PT, va="top", color="#444444")


def _legend(figure: Figure, rows: tuple[ForestRow, ...]) -> None:
    handles: list[Line2D] = []
    for status in dict.fromkeys(r.status for r in rows):
        handles.append(
            Line2D(
                [],
                [],
                color=STATUS_COLOURS[status],
                marker=STATUS_MARKERS[status],
                markeredgecolor="black",
                markeredgewidth=0.6,
                markersize=8,
                linewidth=2.4,
                label=_LEGEND_TEXT[status],
            )
        )
    marks = [t for r in rows for t in r.thresholds]
    for kind in _THRESHOLD_STYLE:
        texts = {text for k, _, text in marks if k == kind}
        if texts:
            detail = f" ({texts.pop()})" if len(texts) == 1 else ""
            handles.append(
                Line2D(
                    [],
                    [],
                    color=STATUS_COLOURS[kind],
                    linestyle=_THRESHOLD_STYLE[kind],
                    linewidth=2.2,
                    label=f"{_THRESHOLD_NAME[kind]}{detail}",
                )
            )
    figure.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(handles), 3),
        frameon=False,
        fontsize=SMALL_PT,
        handlelength=2.2,
        columnspacing=1.6,
    )


def _blocked_figure(analysis: Analysis) -> Figure:
    findings = [f.message for f in analysis.health.findings if f.severity == "blocked"][:4]
    return message_figure(
        f"{shorten(display_label(analysis.experiment.name), 50)}: no chart — the data is blocked",
        ["Nothing can be measured until the file is fixed:", *[f"• {m}" for m in findings]],
    )
