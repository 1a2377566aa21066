"""Sequential looks in the analysis, peeking warnings, and the look diff."""

from __future__ import annotations

import json

from experimentos.analysis import analyze
from experimentos.looks import look_diff
from experimentos.model import Options
from tests.conftest import EXAMPLES

LAUNCH = (EXAMPLES / "launch.csv").read_bytes()


def test_early_look_not_crossed_is_not_yet_conclusive() -> None:
    """z ≈ 3.26 (p = 0.0011) at look 2 of 5 is below the O'Brien–Fleming-type 3.357."""
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(look=2, of_looks=5))
    assert analysis.sequential is not None
    assert round(analysis.sequential.boundary_z, 3) == 3.357
    assert not analysis.sequential.crossed
    assert (analysis.verdict.kind, analysis.verdict.rule) == ("hold", 7)
    assert "not yet conclusive" in analysis.verdict.reason
    assert any(w.startswith("Peeking") for w in analysis.warnings)


def test_final_look_crossed_launches() -> None:
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(look=5, of_looks=5))
    assert analysis.sequential is not None and analysis.sequential.crossed
    assert round(analysis.sequential.boundary_z, 3) == 2.031
    assert analysis.verdict.kind == "launch"


def test_pocock_spending_is_selectable() -> None:
    options = Options(look=1, of_looks=5, spending="pocock")
    analysis = analyze(LAUNCH, file_name="launch.csv", options=options)
    assert analysis.sequential is not None
    assert round(analysis.sequential.boundary_z, 3) == 2.438
    assert analysis.sequential.crossed  # z ≈ 3.26


def test_information_fractions_from_target_sample_size() -> None:
    options = Options(look=2, of_looks=3, look_fractions=(0.25, 0.95))
    analysis = analyze(LAUNCH, file_name="launch.csv", options=options)
    assert analysis.sequential is not None
    assert analysis.sequential.information_fraction == 0.95
    assert analysis.sequential.crossed


def test_repeated_unplanned_looks_warn_about_peeking() -> None:
    analysis = analyze(LAUNCH, file_name="launch.csv", options=Options(prior_looks=2))
    assert any("look 3" in w and "Peeking" in w for w in analysis.warnings)
    first = analyze(LAUNCH, file_name="launch.csv")
    assert first.warnings == ()


def test_look_diff_names_lift_ci_and_verdict_changes() -> None:
    earlier = analyze(
        (EXAMPLES / "not_significant.csv").read_bytes(), file_name="not_significant.csv"
    )
    later = analyze(LAUNCH, file_name="launch.csv")
    previous = json.loads(json.dumps(earlier.to_dict()))
    line = look_diff(previous, later, previous_look=1)
    assert line.startswith("Since look 1: lift +0.20 pp → +1.00 pp")
    assert "CI width" in line and "verdict Hold → Launch" in line
