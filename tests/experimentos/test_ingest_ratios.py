"""Ratio metrics in aggregated files: the five-column convention, findings for bad cells,
pooling of segments, and files without ratio columns read exactly as before."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experimentos import ingest
from experimentos.analysis.assemble import analyze
from experimentos.model import ExperimentData, RatioStats
from experimentos.report.memo import render_html, render_markdown
from experimentos.report.text import render
from tests.conftest import EXAMPLES

RATIO_HEADER = "rpo_num_sum,rpo_num_sum_sq,rpo_den_sum,rpo_den_sum_sq,rpo_num_den_sum"
CONTROL = "5000,90000,1500,4000,11000"
TREATMENT = "5600,99000,1520,4100,12000"


def _csv(*rows: str, header: str = f"variant,users,conversions,{RATIO_HEADER}") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _parse(data: bytes) -> ExperimentData:
    return ingest.parse(data, file_name="ratio.csv")


def test_five_columns_make_one_ratio_metric_and_nothing_else() -> None:
    data = _parse(
        _csv(
            f"control,1000,100,{CONTROL},7",
            f"treatment,1000,110,{TREATMENT},8",
            header=f"variant,users,conversions,{RATIO_HEADER},guardrail_error",
        )
    )
    assert data.findings == ()
    assert data.ratio_columns == ("rpo",)
    assert data.mean_columns == ()  # not rpo_num / rpo_den as continuous metrics
    assert data.secondary_count_columns == ()  # rpo_num_den_sum is not a count
    assert data.guardrail_columns == ("guardrail_error",)
    control = data.arm("control").ratios["rpo"]
    assert control == RatioStats(1000, 5000.0, 90000.0, 1500.0, 4000.0, 11000.0)
    assert control.value == pytest.approx(5000 / 1500)


def test_ratio_n_column_overrides_users_and_is_not_a_metric() -> None:
    data = _parse(
        _csv(
            f"control,1000,100,{CONTROL},900",
            f"treatment,1000,110,{TREATMENT},950",
            header=f"variant,users,conversions,{RATIO_HEADER},rpo_n",
        )
    )
    assert data.findings == ()
    assert data.arm("control").ratios["rpo"].n == 900
    assert data.arm("treatment").ratios["rpo"].n == 950
    assert data.secondary_count_columns == ()


def test_four_columns_without_the_cross_sum_are_two_means_as_before() -> None:
    header = "variant,users,conversions,rpo_num_sum,rpo_num_sum_sq,rpo_den_sum,rpo_den_sum_sq"
    data = _parse(
        _csv(
            "control,1000,100,5000,90000,1500,4000",
            "treatment,1000,110,5600,99000,1520,4100",
            header=header,
        )
    )
    assert data.ratio_columns == ()
    assert set(data.mean_columns) == {"rpo_num", "rpo_den"}
    assert data.findings == ()


def test_a_cross_sum_without_its_companions_is_a_warning() -> None:
    header = "variant,users,conversions,rpo_num_sum,rpo_num_den_sum"
    data = _parse(
        _csv("control,1000,100,5000,11000", "treatment,1000,110,5600,12000", header=header)
    )
    (finding,) = data.findings
    assert finding.severity == "warning" and finding.code == "incomplete_ratio"
    assert finding.column == "rpo_num_den_sum"
    assert "rpo_den_sum" in finding.message and "rpo_num_sum_sq" in finding.message
    assert data.ratio_columns == ()
    assert "rpo_num_den_sum" not in data.secondary_count_columns


@pytest.mark.parametrize(
    ("control_cells", "line", "column", "code"),
    [
        ("abc,90000,1500,4000,11000", 2, "rpo_num_sum", "not_a_number"),
        ("5000,90000,,4000,11000", 2, "rpo_den_sum", "not_a_number"),
        ("5000,nan,1500,4000,11000", 2, "rpo_num_sum_sq", "not_a_number"),
        ("5000,90000,1500,inf,11000", 2, "rpo_den_sum_sq", "not_a_number"),
        ("5000,-1,1500,4000,11000", 2, "rpo_num_sum_sq", "negative_sum_of_squares"),
        ("5000,90000,1500,-4000,11000", 2, "rpo_den_sum_sq", "negative_sum_of_squares"),
        # Σx² = 20,000 < (Σx)²/n = 25,000: no data has that spread
        ("5000,20000,1500,4000,11000", 2, "rpo_num_sum_sq", "inconsistent_moments"),
        # Sxy = 10⁶ − 7,500 while √(Sxx·Syy) = √(65,000 · 1,750) ≈ 10,665
        ("5000,90000,1500,4000,1000000", 2, "rpo_num_den_sum", "inconsistent_moments"),
    ],
)
def test_bad_cells_are_findings_with_line_and_column(control_cells, line, column, code) -> None:
    data = _parse(_csv(f"control,1000,100,{control_cells}", f"treatment,1000,110,{TREATMENT}"))
    located = {(f.row, f.column, f.code) for f in data.findings}
    assert (line, column, code) in located
    assert all(f.severity == "blocked" for f in data.findings)
    assert "rpo" not in data.arm("control").ratios
    analysis = analyze(
        _csv(f"control,1000,100,{control_cells}", f"treatment,1000,110,{TREATMENT}"),
        file_name="ratio.csv",
    )
    assert analysis.health.blocked and analysis.verdict.kind == "hold"


def test_a_bad_n_cell_is_a_finding() -> None:
    data = _parse(
        _csv(
            f"control,1000,100,{CONTROL},12.5",
            f"treatment,1000,110,{TREATMENT},950",
            header=f"variant,users,conversions,{RATIO_HEADER},rpo_n",
        )
    )
    assert (2, "rpo_n", "not_a_count") in {(f.row, f.column, f.code) for f in data.findings}


def test_segments_pool_by_addition() -> None:
    rng = np.random.default_rng(3)
    rows, expected = [], {}
    for segment in ("ios", "web"):
        for arm in ("control", "treatment"):
            y = rng.poisson(1.5, 400).astype(float)
            x = y * rng.gamma(2.0, 20.0, 400)
            part = RatioStats(400, x.sum(), (x * x).sum(), y.sum(), (y * y).sum(), (x * y).sum())
            expected[arm] = expected[arm] + part if arm in expected else part
            sums = ",".join(
                repr(v)
                for v in (
                    part.num_total,
                    part.num_total_sq,
                    part.den_total,
                    part.den_total_sq,
                    part.cross_total,
                )
            )
            rows.append(f"{arm},{segment},400,40,{sums}")
    data = _parse(_csv(*rows, header=f"variant,segment,users,conversions,{RATIO_HEADER}"))
    assert data.findings == ()
    for arm, stats in expected.items():
        pooled = data.arm(arm).ratios["rpo"]
        assert pooled.n == 800
        for field in dataclasses.fields(RatioStats):
            assert getattr(pooled, field.name) == pytest.approx(
                getattr(stats, field.name), rel=1e-12
            )


EXISTING = sorted(p for p in EXAMPLES.glob("*.csv") if p.name != "ratio.csv")


@pytest.mark.parametrize("path", EXISTING, ids=lambda p: p.name)
def test_files_without_ratio_columns_parse_as_before(path) -> None:
    """No ratio anywhere, and adding ratio columns to the file changes nothing else: every
    arm, metric family, finding and segment is what the file alone gives."""
    plain = _parse(path.read_bytes())
    assert plain.ratio_columns == ()
    assert all(not arm.ratios for arm in plain.arms)
    lines = path.read_text().splitlines()
    if "variant" not in lines[0] or len(lines) < 3:
        return
    widened = [f"{lines[0]},{RATIO_HEADER}"] + [f"{line},{CONTROL}" for line in lines[1:]]
    with_ratio = _parse(("\n".join(widened) + "\n").encode())
    stripped = dataclasses.replace(
        with_ratio,
        source=plain.source,
        ratio_columns=(),
        arms=tuple(dataclasses.replace(a, ratios={}) for a in with_ratio.arms),
        segments=tuple(
            (name, tuple(dataclasses.replace(a, ratios={}) for a in arms))
            for name, arms in with_ratio.segments
        ),
    )
    assert stripped == plain
    if plain.arms:
        assert with_ratio.ratio_columns == ("rpo",)


def test_every_renderer_labels_the_ratio_and_names_the_delta_method() -> None:
    analysis = analyze((EXAMPLES / "ratio.csv").read_bytes(), file_name="ratio.csv")
    memo = render_markdown(analysis)
    assert r"revenue\_per\_order (ratio)" in memo
    assert "delta method" in memo and "delta-method z-test" in memo
    assert "revenue_per_order (ratio)" in render_html(analysis)
    assert "revenue_per_order (ratio, delta method" in render(analysis)
    (ratio,) = [m for m in analysis.to_dict()["secondary"] if m["name"] == "revenue_per_order"]
    assert ratio["kind"] == "ratio"
    assert ratio["comparison"]["ci_method"] == "delta-method"


def test_memo_without_ratios_has_no_ratio_assumption() -> None:
    analysis = analyze((EXAMPLES / "continuous.csv").read_bytes(), file_name="continuous.csv")
    assert "Ratio metrics" not in render_markdown(analysis)


cells = st.one_of(
    st.sampled_from(["", "nan", "-1", "1e400", "abc", "0", "1,5", " 7 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**9).map(str),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cells, min_size=10, max_size=10))
def test_any_ratio_cells_give_a_result_or_findings(values) -> None:
    control, treatment = ",".join(values[:5]), ",".join(values[5:])
    data = _csv(f"control,1000,100,{control}", f"treatment,1000,110,{treatment}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = analyze(data, file_name="fuzz.csv")
    for metric in analysis.secondary:
        p = metric.comparison.p_value
        assert math.isnan(p) or 0 <= p <= 1
    if not analysis.health.blocked:
        assert {m.name for m in analysis.secondary} <= {"rpo"}
