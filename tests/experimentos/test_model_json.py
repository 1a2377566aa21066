"""Analysis JSON (as the history keeps it) rebuilds the same Analysis tree."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experimentos import Options, analyze
from experimentos.model import Analysis
from experimentos.model_json import analysis_from_dict

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.csv"))
SEGMENTED = (
    b"variant,segment,users,conversions,guardrail_error\n"
    b"control,ios,5000,500,40\ntreatment,ios,5000,560,41\n"
    b"control,web,5000,400,30\ntreatment,web,5000,410,35\n"
)


def round_trip(analysis: Analysis) -> Analysis:
    return analysis_from_dict(json.loads(json.dumps(analysis.to_dict(), allow_nan=False)))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips(path: Path) -> None:
    analysis = analyze(path.read_bytes(), file_name=path.name, options=Options(look=2, of_looks=4))
    rebuilt = round_trip(analysis)
    assert rebuilt.to_dict() == analysis.to_dict()
    assert isinstance(rebuilt.primary, tuple)
    assert rebuilt.verdict == analysis.verdict


def test_segments_user_level_and_nan_come_back(cookie_cats: bytes) -> None:
    segmented = analyze(SEGMENTED, file_name="seg.csv", options=Options(prior_looks=2))
    assert round_trip(segmented).to_dict() == segmented.to_dict()
    assert round_trip(segmented).warnings == segmented.warnings
    user_level = analyze(
        cookie_cats, file_name="cookie_cats.csv", options=Options(control="gate_30")
    )
    rebuilt = round_trip(user_level)
    assert rebuilt.to_dict() == user_level.to_dict()
    nan_fields = [
        m.comparison.p_value for m in user_level.secondary if math.isnan(m.comparison.p_value)
    ]
    assert len(nan_fields) == len(
        [m for m in rebuilt.secondary if math.isnan(m.comparison.p_value)]
    )


def test_a_foreign_shape_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not the JSON of an Analysis"):
        analysis_from_dict({"experiment": {"name": "x"}})
