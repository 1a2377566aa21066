"""How long to go: users (and days) a Hold still needs for the planned MDE, under each method.

Checked against implementations that are not ours: statsmodels' two-proportion sample size
(pooled variance under H0, unpooled under H1) and ``zt_ind_solve_power`` for the fixed design, the
rpact inflation factors for the group-sequential maximum, and an integer bisection over gbstats'
``SequentialTwoSidedTTest`` interval for the always-valid one. No expected figure here was
produced by the code under test.
"""

from __future__ import annotations

import math

import pytest
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic
from scipy import stats
from statsmodels.stats.power import zt_ind_solve_power
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from experimentos.analysis.assemble import analyze
from experimentos.analysis.remaining import (
    ArmStats,
    Horizon,
    Remaining,
    next_action,
    remaining,
    users_needed,
)
from experimentos.cli import commands as cli
from experimentos.errors import OptionError
from experimentos.model import Options
from experimentos.options import build_options, parse_message_options
from tests.conftest import EXAMPLES

# rpact getDesignGroupSequential(kMax = 5, alpha = 0.025, sided = 1, beta = 0.2,
# typeOfDesign = "asOF" / "asP")$inflationFactor (also pinned in test_sequential.py)
RPACT_INFLATION = {"obf": 1.0247, "pocock": 1.2126}


def _statsmodels_fixed(p_c: float, mde: float, *, alpha=0.05, power=0.8, ratio=1.0) -> float:
    """Control users: statsmodels' sample 1 is the treatment (p_c + mde), nobs2 = ratio·nobs1."""
    n_t = samplesize_proportions_2indep_onetail(
        mde, p_c, power, ratio=1.0 / ratio, alpha=alpha, alternative="two-sided"
    )
    return n_t / ratio


@pytest.mark.parametrize(
    ("p_c", "mde", "alpha", "ratio"),
    [
        (0.10, 0.01, 0.05, 1.0),
        (0.10, 0.005, 0.05, 1.0),
        (0.03, 0.002, 0.01, 1.0),
        (0.50, -0.02, 0.05, 1.0),
        (0.20, 0.01, 0.05, 1.5),  # a 40/60 split
    ],
)
def test_fixed_users_equal_statsmodels_two_proportion_size(p_c, mde, alpha, ratio):
    n_c, n_t = users_needed(ArmStats(10_000, p_c), mde=mde, alpha=alpha, ratio=ratio)
    expected = _statsmodels_fixed(p_c, mde, alpha=alpha, ratio=ratio)
    assert n_c == math.ceil(expected - 1e-9) or n_c == pytest.approx(expected, abs=1.0)
    assert n_t == pytest.approx(expected * ratio, abs=1.0)


@pytest.mark.parametrize(("sd", "mde"), [(12.5, 1.0), (3.0, 0.05), (40.0, -2.5)])
def test_fixed_users_of_a_mean_equal_zt_ind_solve_power(sd, mde):
    n_c, _ = users_needed(ArmStats(2_000, 50.0, variance=sd**2), mde=mde)
    expected = zt_ind_solve_power(effect_size=abs(mde) / sd, alpha=0.05, power=0.8, ratio=1.0)
    assert n_c == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_group_sequential_users_are_the_fixed_size_times_the_published_inflation(spending):
    p_c, mde = 0.10, 0.005
    n_c, _ = users_needed(
        ArmStats(10_000, p_c), mde=mde, method="group-sequential", looks=5, spending=spending
    )
    expected = _statsmodels_fixed(p_c, mde) * RPACT_INFLATION[spending]
    assert n_c == pytest.approx(expected, rel=6e-4)


def _gbstats_users_per_arm(p_c, mde, *, power, alpha=0.05, tuning=5000) -> int:
    """Smallest n per arm whose gbstats sequence half-width + z₁₋β·SE is at most |Δ|, when the
    arms show p_c and p_c + Δ (an integer bisection over gbstats' interval)."""
    p_t = p_c + mde
    z_b = stats.norm.ppf(power)
    config = SequentialConfig(
        alpha=alpha, difference_type="absolute", sequential_tuning_parameter=tuning
    )

    def reached(n: int) -> bool:
        test = SequentialTwoSidedTTest(
            ProportionStatistic(n=n, sum=p_c * n), ProportionStatistic(n=n, sum=p_t * n), config
        )
        lo, hi = test.confidence_interval
        se = math.sqrt(p_c * (1 - p_c) / n + p_t * (1 - p_t) / n)
        return (hi - lo) / 2 + z_b * se <= abs(mde)

    lo, hi = 1, 2
    while not reached(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return hi


@pytest.mark.parametrize(
    ("p_c", "mde", "power", "tuning"),
    [
        (0.10, 0.005, 0.8, 5000),
        (0.10, 0.005, 0.5, 5000),  # power 0.5: the plain "half-width ≤ MDE"
        (0.10, 0.01, 0.8, 100_000),
        (0.30, -0.02, 0.8, 20_000),
        (0.02, 0.004, 0.9, 5000),
    ],
)
def test_always_valid_users_equal_a_bisection_over_gbstats_sequence(p_c, mde, power, tuning):
    n_c, n_t = users_needed(
        ArmStats(1_000, p_c), mde=mde, power=power, method="always-valid", planned_users=tuning
    )
    expected = _gbstats_users_per_arm(p_c, mde, power=power, tuning=tuning)
    assert math.ceil(n_c) == pytest.approx(expected, abs=1)
    assert n_t == pytest.approx(n_c)


def test_always_valid_needs_more_than_fixed_and_the_gap_shrinks_when_tuned_at_the_plan():
    arm = ArmStats(1_000, 0.10)
    fixed, _ = users_needed(arm, mde=0.005)
    default, _ = users_needed(arm, mde=0.005, method="always-valid")
    tuned, _ = users_needed(arm, mde=0.005, method="always-valid", planned_users=2 * 60_000)
    assert fixed < tuned < default


def test_remaining_counts_users_and_days_to_go():
    plan = remaining(
        ArmStats(5_000, 0.10),
        [ArmStats(4_800, 0.102)],
        observed_lifts=[0.002],
        horizon=Horizon(mde=0.005, daily_users=20_000, daily_source="option"),
    )
    assert plan is not None
    need = math.ceil(_statsmodels_fixed(0.10, 0.005))
    assert plan.needed == (need, need)
    assert plan.more == (need - 5_000, need - 4_800)
    assert plan.more_per_arm == need - 4_800
    assert plan.days == math.ceil((need - 4_800) / 10_000)  # half the daily users per arm


def test_remaining_sizes_a_relative_mde_from_the_control_rate():
    plan = remaining(
        ArmStats(5_000, 0.08),
        [ArmStats(5_000, 0.081)],
        observed_lifts=[0.001],
        horizon=Horizon(mde=0.05, mde_relative=True),
    )
    assert plan is not None and plan.mde == pytest.approx(0.004)
    assert plan.needed_per_arm == pytest.approx(_statsmodels_fixed(0.08, 0.004), abs=1.0)
    assert "(+5.0% relative)" in next_action(plan)


def test_without_an_mde_the_largest_observed_lift_is_sized_with_bonferroni_over_the_arms():
    plan = remaining(
        ArmStats(5_000, 0.10),
        [ArmStats(5_000, 0.101), ArmStats(5_000, 0.104)],
        observed_lifts=[0.001, 0.004],
        horizon=Horizon(),
    )
    assert plan is not None and not plan.mde_planned and plan.mde == pytest.approx(0.004)
    expected = _statsmodels_fixed(0.10, 0.004, alpha=0.025)
    assert plan.needed == tuple([pytest.approx(expected, abs=1.0)] * 3)
    assert (
        remaining(
            ArmStats(5_000, 0.1), [ArmStats(5_000, 0.1)], observed_lifts=[0.0], horizon=Horizon()
        )
        is None
    )


def test_an_mde_past_the_rate_s_range_has_nothing_to_size():
    plan = remaining(
        ArmStats(100, 0.98),
        [ArmStats(100, 0.97)],
        observed_lifts=[-0.01],
        horizon=Horizon(mde=0.05),
    )
    assert plan is None


def test_next_action_says_method_users_and_days():
    plan = Remaining(
        method="always-valid",
        mde=0.005,
        mde_planned=True,
        mde_share=None,
        needed=(12_000, 12_000),
        more=(7_000, 7_000),
        days=2,
        daily_users=8_000,
        daily_source="option",
        power=0.8,
    )
    text = next_action(plan)
    assert text == (
        "To detect the planned MDE of +0.50 pp with 80% power with the always-valid interval, "
        "about 12,000 users per arm are needed (about 7,000 more per arm); at 8,000 users a day "
        "(as given) that is about 2 more days."
    )


# --------------------------------------------------------------------------- end to end


def _hold_action(options: Options) -> str:
    analysis = analyze(
        (EXAMPLES / "not_significant.csv").read_bytes(),
        file_name="not_significant.csv",
        options=options,
    )
    assert analysis.verdict.rule == 7
    return analysis.verdict.next_actions[0]


def test_the_hold_card_sizes_the_planned_mde_under_the_chosen_method():
    """not_significant.csv: 5,000 users per arm, 10.0% → 10.2%; a planned MDE of 0.5 pp."""
    fixed = math.ceil(_statsmodels_fixed(0.10, 0.005))
    text = _hold_action(build_options(mde="0.5pp", daily_users="20k"))
    days = math.ceil((fixed - 5_000) / 10_000)
    assert f"about {fixed:,} users per arm are needed (about {fixed - 5_000:,} more" in text
    assert f"at 20,000 users a day (as given) that is about {days} more days" in text

    av = _gbstats_users_per_arm(0.10, 0.005, power=0.8)
    text = _hold_action(build_options(mde="0.5pp", method="always-valid"))
    assert "always-valid" in text
    assert f"about {av:,} users per arm" in text or f"about {av + 1:,} users per arm" in text

    gs = _statsmodels_fixed(0.10, 0.005) * RPACT_INFLATION["obf"]
    text = _hold_action(build_options(mde="0.5pp", look=2, of_looks=5))
    figure = int(text.split("about ")[1].split(" users")[0].replace(",", ""))
    assert figure == pytest.approx(gs, rel=6e-4) and "look plan" in text


def test_the_slack_lines_carry_the_mde_and_the_daily_users():
    options = parse_message_options("mde: 5% relative\ndaily-users: 1,500\nsplit: 50/50")
    assert (options.mde, options.mde_relative, options.daily_users) == (0.05, True, 1500.0)
    text = _hold_action(options)
    assert "+0.50 pp (+5.0% relative)" in text and "1,500 users a day" in text


@pytest.mark.parametrize("bad", ["0", "-1pp", "5pp relative", "lots", "150%"])
def test_a_bad_mde_is_a_clear_error(bad):
    with pytest.raises(OptionError, match="mde must be a positive effect"):
        build_options(mde=bad)


def test_the_command_line_says_a_bad_daily_rate_in_one_line_and_exits_2(capsys):
    path = str(EXAMPLES / "not_significant.csv")
    assert cli.main(["analyze", path, "--daily-users", "many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("experimentos: daily users must be a positive number") and "\n" not in (
        err.strip()
    )
    assert cli.main(["analyze", path, "--mde", "0.5pp", "--daily-users", "20000"]) == 0
    assert "more days" in capsys.readouterr().out
