"""Under always-valid inference the guardrails use the confidence sequence too: their interval
and p equal gbstats' sequential test, and a non-inferiority margin is met only when the
sequence excludes it — so a look taken at any time may be acted on."""

from __future__ import annotations

import pytest
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic

from experimentos import analyze
from experimentos.model import Options

CSV = b"variant,users,conversions,guardrail_error\ncontrol,6000,600,300\ntreatment,6000,660,340\n"


def _sequential(n_c: int, x_c: int, n_t: int, x_t: int, tuning: int) -> SequentialTwoSidedTTest:
    config = SequentialConfig(difference_type="absolute", sequential_tuning_parameter=tuning)
    return SequentialTwoSidedTTest(
        ProportionStatistic(n=n_c, sum=x_c), ProportionStatistic(n=n_t, sum=x_t), config
    )


@pytest.mark.parametrize("tuning", [5000, 12_000])
def test_a_guardrail_interval_and_p_equal_gbstats_sequential_test(tuning: int) -> None:
    options = Options(method="always-valid", planned_users=tuning)
    [guardrail] = analyze(CSV, file_name="g.csv", options=options).guardrails
    theirs = _sequential(6000, 300, 6000, 340, tuning)
    comparison = guardrail.metric.comparison
    assert comparison.abs_ci == pytest.approx(tuple(theirs.confidence_interval), abs=1e-9)
    assert comparison.p_value == pytest.approx(theirs.p_value, abs=1e-9)
    fixed = analyze(CSV, file_name="g.csv").guardrails[0].metric.comparison
    assert comparison.abs_lift == pytest.approx(fixed.abs_lift)
    assert comparison.abs_ci[1] - comparison.abs_ci[0] > fixed.abs_ci[1] - fixed.abs_ci[0]


def test_a_margin_met_at_a_fixed_horizon_is_not_met_until_the_sequence_excludes_it() -> None:
    # error rate 5.0% → 5.0%: inside a 15% relative margin at a fixed horizon (one-sided z test),
    # but the wider always-valid sequence still reaches past the margin at this sample size
    csv = (
        b"variant,users,conversions,guardrail_error\ncontrol,6000,600,300\ntreatment,6000,660,300\n"
    )
    margins = (("guardrail_error", 0.15),)
    fixed = analyze(csv, file_name="m.csv", options=Options(margins=margins)).guardrails[0]
    sequential = analyze(
        csv, file_name="m.csv", options=Options(margins=margins, method="always-valid")
    ).guardrails[0]
    assert fixed.within_margin is True and fixed.margin_p_value < 0.05
    assert sequential.within_margin is False and sequential.margin_p_value >= 0.05
    # the sequence's 95% relative interval reaches past +15%: the margin is not excluded
    assert sequential.metric.comparison.rel_ci[1] > 0.15
