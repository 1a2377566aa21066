"""What the charts show: rows, bars, lines, colours and labels, read from the Figure itself."""

from __future__ import annotations

import csv
import io
import itertools
import math
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.image
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text
from scipy import stats
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from experimentos.analysis.assemble import analyze
from experimentos.model import Analysis, Options
from experimentos.report.charts import (
    STATUS_COLOURS,
    LookPoint,
    forest_alt_text,
    forest_figure,
    forest_png,
    forest_rows,
    looks_figure,
    looks_png,
    power_curve_figure,
    power_curve_png,
)
from experimentos.stats.power import plan_sample_size
from experimentos.stats.sequential import boundaries
from tests.conftest import EXAMPLES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEASURED = sorted(p.stem for p in EXAMPLES.glob("*.csv") if p.stem != "blocked")


def example(stem: str, **options: object) -> Analysis:
    path = EXAMPLES / f"{stem}.csv"
    return analyze(path.read_bytes(), file_name=path.name, options=Options(**options))  # type: ignore[arg-type]


def bars(figure: Figure) -> dict[str, ErrorbarContainer]:
    """The CI bars of a forest plot by their row key 'group|metric|arm'."""
    axes = figure.axes[0]
    return {
        c.get_label().removeprefix("_row "): c
        for c in axes.containers
        if isinstance(c, ErrorbarContainer)
    }


def bar_colour(container: ErrorbarContainer) -> str:
    line, _, (segments,) = container.lines
    assert to_hex(segments.get_colors()[0]) == to_hex(line.get_color())
    return to_hex(line.get_color())


def thresholds(figure: Figure, kind: str) -> list[float]:
    """x of each threshold line of ``kind`` drawn on guardrail rows."""
    return [
        float(segment[0][0])
        for c in figure.axes[0].collections
        if isinstance(c, LineCollection) and c.get_gid() == f"threshold-{kind}"
        for segment in c.get_segments()
    ]


def counts(stem: str) -> dict[str, dict[str, int]]:
    """The example's raw counts per arm, read with the csv module."""
    with (EXAMPLES / f"{stem}.csv").open() as file:
        return {r.pop("variant"): {k: int(v) for k, v in r.items()} for r in csv.DictReader(file)}


def read_png(png: bytes):  # type: ignore[no-untyped-def]
    assert png.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(png), format="png")


# --------------------------------------------------------------------------- forest plot


@pytest.mark.parametrize("name", MEASURED)
def test_one_ci_bar_per_metric_and_arm(name: str) -> None:
    analysis = example(name)
    figure = forest_figure(analysis)
    expected = len(analysis.primary) + len(analysis.guardrails) + len(analysis.secondary)
    drawn = bars(figure)
    assert len(drawn) == expected == len(forest_rows(analysis))
    assert all(c.has_xerr for c in drawn.values())
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(labels) == expected


@pytest.mark.parametrize("name", MEASURED)
def test_png_is_900_px_wide_and_as_tall_as_the_figure(name: str) -> None:
    analysis = example(name)
    pixels = read_png(forest_png(analysis))
    height_in = forest_figure(analysis).get_figheight()
    assert pixels.shape[1] == 900
    assert pixels.shape[0] == round(height_in * 100)


def test_bars_span_the_relative_confidence_interval() -> None:
    analysis = example("launch")
    container = bars(forest_figure(analysis))["Primary|conversions|treatment"]
    (segment,) = container.lines[2][0].get_segments()
    low, high = relative_ci(counts("launch"), "conversions")
    assert segment[0][0] == pytest.approx(low, abs=1e-9)
    assert segment[1][0] == pytest.approx(high, abs=1e-9)
    assert container.lines[0].get_xdata()[0] == pytest.approx(0.1)  # 11% / 10% − 1


def relative_ci(arms: dict[str, dict[str, int]], metric: str) -> tuple[float, float]:
    """95% CI of t/c − 1 by the delta method, Var(t)/c² + t²·Var(c)/c⁴ (the variance gbstats'
    relative test uses; see stats/test_proportions.py), from the raw counts."""
    c = arms["control"][metric] / arms["control"]["users"]
    t = arms["treatment"][metric] / arms["treatment"]["users"]
    var_c = c * (1 - c) / arms["control"]["users"]
    var_t = t * (1 - t) / arms["treatment"]["users"]
    half = stats.norm.ppf(0.975) * math.sqrt(var_t / c**2 + t**2 * var_c / c**4)
    return t / c - 1 - half, t / c - 1 + half


def test_zero_line_is_drawn() -> None:
    axes = forest_figure(example("not_significant")).axes[0]
    (zero,) = [line for line in axes.get_lines() if line.get_gid() == "zero-line"]
    assert list(zero.get_xdata()) == [0.0, 0.0]
    low, high = axes.get_xlim()
    assert low < 0 < high


def test_guardrail_thresholds_are_marked_in_relative_terms() -> None:
    figure = forest_figure(example("launch"))
    # a threshold in pp over the control rate: guardrail_error 1% (0.1 pp → +10%, 0.3 pp →
    # +30%), guardrail_refund 0.5% (→ +20% and +60%)
    arms = counts("launch")
    rates = [
        arms["control"][g] / arms["control"]["users"]
        for g in ("guardrail_error", "guardrail_refund")
    ]
    assert sorted(thresholds(figure, "worsened")) == pytest.approx(sorted(0.001 / r for r in rates))
    assert sorted(thresholds(figure, "severe")) == pytest.approx(sorted(0.003 / r for r in rates))
    assert sorted(thresholds(figure, "severe")) == pytest.approx([0.3, 0.6])
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "worsened threshold (+0.1 pp)" in legend
    assert "severe threshold (+0.3 pp)" in legend


def test_higher_is_better_thresholds_and_margins_point_down() -> None:
    analysis = example(
        "launch",
        higher_is_better=frozenset({"guardrail_refund"}),
        margins=(("guardrail_refund", 0.2),),
    )
    figure = forest_figure(analysis)
    # a relative margin of 20% is drawn at −20%; the severe 0.3 pp over refund's control rate
    # of 0.5% points down (−60%), error's 1% up (+30%)
    arms = counts("launch")
    refund = arms["control"]["guardrail_refund"] / arms["control"]["users"]
    error = arms["control"]["guardrail_error"] / arms["control"]["users"]
    assert thresholds(figure, "margin") == pytest.approx([-0.2])
    assert sorted(thresholds(figure, "severe")) == pytest.approx([-0.003 / refund, 0.003 / error])
    assert thresholds(figure, "worsened") == pytest.approx([0.1])  # a margin replaces it


def test_severe_guardrail_row_has_the_severe_colour_and_marker() -> None:
    figure = forest_figure(example("guardrail_severe"))
    drawn = bars(figure)
    severe = drawn["Guardrails|guardrail_error|treatment"]
    assert bar_colour(severe) == to_hex(STATUS_COLOURS["severe"])
    assert severe.lines[0].get_marker() == "X"
    assert bar_colour(drawn["Primary|conversions|treatment"]) == to_hex(
        STATUS_COLOURS["significant_up"]
    )
    texts = [t.get_text() for t in figure.axes[0].texts]
    arms = counts("guardrail_severe")
    delta = (
        arms["treatment"]["guardrail_error"] / arms["treatment"]["users"]
        - arms["control"]["guardrail_error"] / arms["control"]["users"]
    )
    assert f"Δ {delta * 100:+.2f} pp · severe" in texts  # 1.5% − 1.0%


@pytest.mark.parametrize(
    ("name", "row", "status"),
    [
        ("launch", "Guardrails|guardrail_error|treatment", "ok"),
        ("guardrail_worsened", "Guardrails|guardrail_error|treatment", "worsened"),
        ("negative_primary", "Primary|conversions|treatment", "significant_down"),
        ("not_significant", "Primary|conversions|treatment", "not_significant"),
        ("continuous", "Other metrics|revenue|treatment", "secondary"),
        ("three_arms", "Primary|conversions|variant_b", "not_significant"),
    ],
)
def test_rows_are_coloured_by_status(name: str, row: str, status: str) -> None:
    assert bar_colour(bars(forest_figure(example(name)))[row]) == to_hex(STATUS_COLOURS[status])


def test_three_arms_label_each_row_with_its_arm_in_file_order() -> None:
    figure = forest_figure(example("three_arms"))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == [
        "conversions · variant_a",
        "conversions · variant_b",
        "guardrail_error · variant_a",
        "guardrail_error · variant_b",
    ]


def test_palette_is_okabe_ito_and_distinct() -> None:
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    okabe_ito |= {"#999999", "#000000"}
    assert set(STATUS_COLOURS.values()) <= okabe_ito
    guardrail = [STATUS_COLOURS[s] for s in ("ok", "worsened", "severe")]
    assert len(set(guardrail)) == 3


def visible_texts(figure: Figure) -> list[Text]:
    """The texts that are drawn: visible, not empty, not a tick label outside the view."""
    hidden = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [
        t
        for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden
    ]


@pytest.mark.parametrize("name", [*MEASURED, "blocked"])
def test_text_is_readable_and_not_clipped(name: str) -> None:
    assert_readable(forest_figure(example(name)))


def assert_readable(figure: Figure) -> None:
    """Every visible text is at least 10 pt and lies inside the picture."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = figure.bbox.width, figure.bbox.height
    for text in visible_texts(figure):
        assert text.get_fontsize() >= 10, text.get_text()
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1, text.get_text()
        assert box.x1 <= width + 1 and box.y1 <= height + 1, text.get_text()


def test_a_long_row_label_is_whole_on_two_lines_and_inside_the_picture(cookie_cats: bytes) -> None:
    """Cookie Cats' "sum_gamerounds (capped at p99.9)" was cut at the left edge: the margin is
    now the widest label as drawn, and a long label breaks onto two lines."""
    analysis = analyze(
        cookie_cats,
        file_name="cookie_cats.csv",
        options=Options(control="gate_30", primary="retention_7"),
    )
    figure = forest_figure(analysis)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert "sum_gamerounds\n(capped at p99.9)" in labels
    assert_readable(figure)


def test_long_and_hostile_names_are_shortened_and_shown_literally() -> None:
    long_name = "guardrail_" + "very_long_metric_name_" * 5
    csv = (
        f"variant,users,conversions,{long_name}\n"
        "control,20000,2000,200\n"
        "treatment $x$ 🚀,20000,2200,210\n"
    ).encode()
    analysis = analyze(csv, file_name="x.csv", options=Options(name="$\\alpha$ <b> & 🚀 " * 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing-glyph or mathtext warning
        figure = forest_figure(analysis)
        png = forest_png(analysis)
    assert png.startswith(PNG_SIGNATURE)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[1].endswith("…") and len(labels[1]) <= 40
    title = next(t.get_text() for t in figure.texts if "alpha" in t.get_text())
    assert title.startswith(r"\$\alpha\$ <b> & □") and title.endswith("…")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in visible_texts(figure):
        assert text.get_window_extent(renderer).x1 <= figure.bbox.width + 1


def test_blocked_analysis_gives_a_message_not_an_empty_plot() -> None:
    analysis = example("blocked")
    figure = forest_figure(analysis)
    assert figure.axes == []
    words = " ".join(t.get_text() for t in figure.texts)
    assert "blocked" in words
    assert "'abc'" in words  # the first finding tells what to fix
    assert read_png(forest_png(analysis)).shape[1] == 900
    assert "blocked" in forest_alt_text(analysis)


def test_alt_text_describes_each_row() -> None:
    text = forest_alt_text(example("guardrail_severe"))
    arms = counts("guardrail_severe")
    low, high = relative_ci(arms, "conversions")  # +3.7% to +16.3%
    assert "verdict Rollback" in text
    assert (
        f"Primary conversions, treatment: +10.0% (95% CI {low * 100:+.1f}% to {high * 100:+.1f}%)"
        in text
    )
    assert "significant increase" in text
    error = [arms[a]["guardrail_error"] / arms[a]["users"] for a in ("control", "treatment")]
    assert f"Guardrail guardrail_error, treatment: {(error[1] / error[0] - 1) * 100:+.1f}%" in text
    worsened, severe = 0.001 / error[0], 0.003 / error[0]  # the thresholds over a 1% control
    assert (
        f"severe; thresholds: worsened at +0.1 pp ({worsened * 100:+.1f}%), "
        f"severe at +0.3 pp ({severe * 100:+.1f}%)" in text
    )
    assert len(forest_alt_text(example("three_arms"), limit=200)) == 200


def test_rendering_in_threads_gives_identical_pictures() -> None:
    analysis = example("three_arms")
    with ThreadPoolExecutor(max_workers=4) as pool:
        pictures = list(pool.map(lambda _: forest_png(analysis), range(4)))
    assert len(set(pictures)) == 1


# --------------------------------------------------------------------------- looks


LOOKS = [
    LookPoint(look=1, z=1.2, abs_lift=0.004, abs_ci=(-0.002, 0.010)),
    LookPoint(look=2, z=2.5, abs_lift=0.008, abs_ci=(0.002, 0.014)),
    LookPoint(look=3, z=3.1, abs_lift=0.010, abs_ci=(0.004, 0.016)),
]


def lines_by_gid(figure: Figure) -> dict[str, object]:
    return {line.get_gid(): line for line in figure.axes[0].get_lines() if line.get_gid()}


def test_planned_looks_plot_z_against_the_lan_demets_boundaries() -> None:
    figure = looks_figure(LOOKS, of_looks=5)
    lines = lines_by_gid(figure)
    observed = lines["observed"]
    assert list(observed.get_xdata()) == pytest.approx([0.2, 0.4, 0.6])  # type: ignore[attr-defined]
    assert list(observed.get_ydata()) == [1.2, 2.5, 3.1]  # type: ignore[attr-defined]
    expected = [b.z for b in boundaries([k / 5 for k in range(1, 6)])]
    assert list(lines["boundary-upper"].get_ydata()) == pytest.approx(expected)  # type: ignore[attr-defined]
    assert list(lines["boundary-lower"].get_ydata()) == pytest.approx([-z for z in expected])  # type: ignore[attr-defined]
    notes = [t.get_text() for t in figure.axes[0].texts]
    # published boundaries of 5 equal looks (rpact, gsDesign; stats/test_sequential.py):
    # 4.877, 3.357, 2.680 — 1.2 and 2.5 fall short, 3.1 ≥ 2.680 crosses
    assert notes == ["look 1", "look 2", "look 3 · crossed"]


def test_looks_use_their_information_fraction_and_pocock_spending() -> None:
    points = [LookPoint(1, 2.0, 0.01, (0.0, 0.02), information_fraction=0.35)]
    figure = looks_figure(points, of_looks=3, spending="pocock")
    lines = lines_by_gid(figure)
    assert list(lines["observed"].get_xdata()) == [0.35]  # type: ignore[attr-defined]
    pocock = [b.z for b in boundaries([1 / 3, 2 / 3, 1.0], spending="pocock")]
    assert list(lines["boundary-upper"].get_ydata()) == pytest.approx(pocock)  # type: ignore[attr-defined]


def test_unplanned_looks_show_lift_and_ci_per_look() -> None:
    figure = looks_figure(LOOKS, of_looks=None)
    axes = figure.axes[0]
    (container,) = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert list(container.lines[0].get_ydata()) == pytest.approx([0.4, 0.8, 1.0])  # pp
    assert "boundary-upper" not in lines_by_gid(figure)
    assert "zero-line" in lines_by_gid(figure)
    assert read_png(looks_png(LOOKS, of_looks=None)).shape[1] == 900


def test_no_looks_gives_a_message() -> None:
    assert looks_figure([], of_looks=5).axes == []


# --------------------------------------------------------------------------- power curve


def test_power_curve_marks_the_requested_point_at_the_plans_n() -> None:
    plan = plan_sample_size(baseline=0.10, mde=0.01, daily_users=5000)
    figure = power_curve_figure(plan)
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines()}
    requested = lines["requested"]
    # statsmodels' one-tail sample size: 14,750.8 → 14,751 per variant (SPEC §2.10), and
    # 2 × 14,751 users at 5,000 a day take 6 days
    needed = math.ceil(samplesize_proportions_2indep_onetail(0.01, 0.10, 0.8, alpha=0.05))
    days = math.ceil(2 * needed / 5000)
    assert list(requested.get_xdata()) == [0.01]
    assert list(requested.get_ydata()) == [plan.users_per_variant[0]] == [needed] == [14751]
    curve = lines["curve"]
    xs, ys = list(curve.get_xdata()), list(curve.get_ydata())
    assert xs[0] == pytest.approx(0.005) and xs[-1] == pytest.approx(0.02)
    assert ys[xs.index(0.01)] == needed
    assert all(a > b for a, b in itertools.pairwise(ys))  # smaller effects need more
    note = [t.get_text() for t in figure.axes[0].texts]
    assert note == [f"requested: +1 pp → {needed:,} per variant · {days} days"]


def test_power_curve_with_looks_marks_the_sequential_maximum() -> None:
    plan = plan_sample_size(baseline=0.10, mde=0.05, relative=True, looks=5, variants=3)
    figure = power_curve_figure(plan)
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines()}
    assert list(lines["requested-sequential"].get_ydata()) == [max(plan.max_users_per_variant)]
    assert "with 5 looks" in figure.axes[0].texts[0].get_text()
    assert read_png(power_curve_png(plan)).shape[:2] == (500, 900)


def test_power_curve_for_a_mean_and_a_drop() -> None:
    plan = plan_sample_size(baseline=5.0, mde=-0.2, sd=2.0, split=(60, 40))
    figure = power_curve_figure(plan)
    assert figure.axes[0].get_ylabel() == "users in the largest arm"
    assert "sizing a drop" in " ".join(t.get_text() for t in figure.texts)


@pytest.mark.parametrize(
    "plan",
    [
        plan_sample_size(baseline=0.10, mde=0.01, daily_users=5000),
        plan_sample_size(baseline=0.10, mde=0.05, relative=True, looks=5, variants=3),
        plan_sample_size(baseline=5.0, mde=-0.2, sd=2.0, split=(60, 40), daily_users=300),
        plan_sample_size(baseline=0.6, mde=0.2, relative=True),  # curve cut at a rate of 1
    ],
    ids=["rate", "looks", "mean-drop", "near-one"],
)
def test_power_and_looks_text_is_readable_and_not_clipped(plan) -> None:  # type: ignore[no-untyped-def]
    assert_readable(power_curve_figure(plan))


def test_looks_text_is_readable_and_not_clipped() -> None:
    assert_readable(looks_figure(LOOKS, of_looks=5))
    assert_readable(looks_figure(LOOKS, of_looks=None))


# --------------------------------------------------------------------------- command line


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_writes_the_forest_plot_and_embeds_it_in_the_html_memo(tmp_path: Path) -> None:
    chart, memo = tmp_path / "forest.png", tmp_path / "memo.html"
    result = run(
        "analyze",
        str(EXAMPLES / "three_arms.csv"),
        "--chart",
        str(chart),
        "--format",
        "html",
        "--out",
        str(memo),
    )
    assert result.returncode == 0, result.stderr
    assert read_png(chart.read_bytes()).shape[1] == 900
    assert 'src="data:image/png;base64,iVBORw0KGgo' in memo.read_text()
