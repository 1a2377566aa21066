"""Sample size and MDE (SPEC §2.10) against the textbook reference and statsmodels."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    samplesize_proportions_2indep_onetail,
)

from experimentos.stats.power import mde_for_sample_size, plan_sample_size


def _power(p_control: float, p_treatment: float, n_control: float, n_treatment: float, alpha):
    """statsmodels' two-sided power of the z-test: pooled variance under H0, unpooled under H1
    (the same variance assumptions as our formula). Its sample 1 is the treatment arm."""
    return power_proportions_2indep(
        p_treatment - p_control,
        p_control,
        n_treatment,
        ratio=n_control / n_treatment,
        alpha=alpha,
        return_results=False,
    )


def test_reference_baseline_10pct_mde_1pp():
    # SPEC §2.10: "about 14,750". The formula gives 14,750.79; rounded up, 14,751
    # (statsmodels' one-tail sample size agrees to the last decimal).
    exact = samplesize_proportions_2indep_onetail(0.01, 0.10, 0.8, ratio=1, alpha=0.05)
    assert exact == pytest.approx(14750.79, abs=0.005)
    plan = plan_sample_size(baseline=0.10, mde=0.01)
    assert plan.users_per_variant == (14751, 14751)
    assert plan.total_users == 29502
    assert plan.metric_kind == "proportion"
    assert plan.alpha_per_comparison == 0.05
    assert plan.days is None


@pytest.mark.parametrize(
    ("baseline", "mde", "split"),
    [
        (0.10, 0.01, (50, 50)),
        (0.10, -0.01, (50, 50)),
        (0.03, 0.005, (50, 50)),
        (0.50, 0.02, (50, 50)),
        (0.10, 0.01, (60, 40)),
        (0.10, 0.01, (20, 80)),
        (0.25, -0.03, (70, 30)),
    ],
)
def test_proportions_match_statsmodels_and_are_the_smallest_n(baseline, mde, split):
    plan = plan_sample_size(baseline=baseline, mde=mde, split=split)
    n_control, n_treatment = plan.users_per_variant
    ratio = split[1] / split[0]
    # statsmodels' explicit formula (one tail, as ours) returns the treatment n; ratio = nc/nt
    exact_treatment = samplesize_proportions_2indep_onetail(
        mde, baseline, 0.8, ratio=1 / ratio, alpha=0.05
    )
    assert n_control == math.ceil(exact_treatment / ratio)
    assert n_treatment == math.ceil(exact_treatment)
    p_t = baseline + mde
    assert _power(baseline, p_t, n_control, n_treatment, 0.05) >= 0.8
    # one user fewer in control (treatment following the split) falls short
    assert _power(baseline, p_t, n_control - 1, (n_control - 1) * ratio, 0.05) < 0.8


def test_equal_split_is_the_k_equals_1_case_of_the_unequal_formula():
    assert plan_sample_size(baseline=0.2, mde=0.02, split=(1, 1)).users_per_variant == (
        plan_sample_size(baseline=0.2, mde=0.02).users_per_variant
    )
    assert plan_sample_size(baseline=0.2, mde=0.02, split=(50, 50)).split == (0.5, 0.5)


@pytest.mark.parametrize(("sd", "delta", "split"), [(2.0, 0.5, (1, 1)), (10.0, 1.0, (60, 40))])
def test_means_match_statsmodels_normal_ind_power(sd, delta, split):
    plan = plan_sample_size(baseline=20.0, mde=delta, sd=sd, split=split)
    n_control, n_treatment = plan.users_per_variant
    ratio = split[1] / split[0]
    assert plan.metric_kind == "mean"
    assert plan.mde_relative == pytest.approx(delta / 20.0)
    solver = NormalIndPower()
    # statsmodels also counts the far tail, so its exact n is a hair smaller than ours
    solved = solver.solve_power(effect_size=delta / sd, alpha=0.05, power=0.8, ratio=ratio)
    assert n_control == math.ceil(solved)
    assert solver.power(delta / sd, n_control, 0.05, ratio=n_treatment / n_control) >= 0.8
    assert solver.power(delta / sd, n_control - 1, 0.05, ratio=ratio) < 0.8


def test_means_closed_form_two_sigma_squared():
    z = 1.959963984540054 + 0.8416212335729143
    assert (
        plan_sample_size(baseline=0.0, mde=1.0, sd=5.0).users_per_variant
        == (math.ceil(2 * 25 * z**2),) * 2
    )


def test_bonferroni_with_three_variants():
    plan = plan_sample_size(baseline=0.10, mde=0.01, variants=3)
    assert plan.alpha_per_comparison == pytest.approx(0.025)
    two_arm = plan_sample_size(baseline=0.10, mde=0.01, alpha=0.025)
    assert plan.users_per_variant == (two_arm.users_per_variant[0],) * 3
    assert plan.total_users == 3 * two_arm.users_per_variant[0]


def test_several_treatments_with_an_uneven_split_satisfy_every_comparison():
    plan = plan_sample_size(baseline=0.10, mde=0.01, variants=3, split=(34, 33, 33))
    n_control, *treatments = plan.users_per_variant
    for n_treatment in treatments:
        assert _power(0.10, 0.11, n_control, n_treatment, 0.025) >= 0.8
    assert sum(plan.split) == pytest.approx(1.0)
    # the smallest arm drives the size: a bigger treatment share needs fewer users overall
    uneven = plan_sample_size(baseline=0.10, mde=0.01, variants=3, split=(34, 40, 26))
    assert uneven.users_per_variant[0] > n_control


def test_relative_mde_is_a_share_of_baseline():
    relative = plan_sample_size(baseline=0.10, mde=0.10, relative=True)
    assert relative.mde_absolute == pytest.approx(0.01)
    assert relative.mde_relative == pytest.approx(0.10)
    assert relative.users_per_variant == plan_sample_size(baseline=0.10, mde=0.01).users_per_variant


def test_days_round_up():
    assert plan_sample_size(baseline=0.10, mde=0.01, daily_users=20_000).days == 2  # 29,502
    assert plan_sample_size(baseline=0.10, mde=0.01, daily_users=29_502).days == 1
    assert plan_sample_size(baseline=0.10, mde=0.01, daily_users=1_000).days == 30


def test_looks_add_the_group_sequential_maximum():
    plan = plan_sample_size(baseline=0.10, mde=0.01, looks=5, daily_users=10_000)
    assert plan.inflation_factor == pytest.approx(1.0247, abs=5e-4)
    fixed = samplesize_proportions_2indep_onetail(0.01, 0.10, 0.8)
    assert plan.max_users_per_variant == (math.ceil(fixed * plan.inflation_factor),) * 2
    assert plan.max_total_users == sum(plan.max_users_per_variant)
    assert plan.max_days == math.ceil(plan.max_total_users / 10_000)
    assert [round(b.z, 2) for b in plan.boundaries] == [4.88, 3.36, 2.68, 2.29, 2.03]
    assert [b.information_fraction for b in plan.boundaries] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert plan_sample_size(baseline=0.10, mde=0.01).boundaries == ()


def test_to_dict_is_json_ready():
    data = plan_sample_size(baseline=0.10, mde=0.01, looks=3, split=(60, 40)).to_dict()
    decoded = json.loads(json.dumps(data))
    assert decoded["users_per_variant"] == list(data["users_per_variant"])
    assert decoded["boundaries"][0]["look"] == 1
    assert decoded["metric_kind"] == "proportion"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"baseline": 1.5, "mde": 0.01}, r"baseline must be between 0 and 1 \(got 1.5\)"),
        ({"baseline": 0.0, "mde": 0.01}, "baseline must be between 0 and 1"),
        ({"baseline": 0.95, "mde": 0.1}, "baseline \\+ mde must stay between 0 and 1"),
        ({"baseline": 0.05, "mde": -0.05}, "baseline \\+ mde must stay between 0 and 1"),
        ({"baseline": 0.1, "mde": 0.0}, "mde must be a non-zero number"),
        ({"baseline": 0.1, "mde": 0.01, "alpha": 0.0}, r"alpha must be between 0 and 1 \(got 0"),
        ({"baseline": 0.1, "mde": 0.01, "alpha": 1.2}, "alpha must be between 0 and 1"),
        ({"baseline": 0.1, "mde": 0.01, "power": 1.0}, "power must be between 0 and 1"),
        ({"baseline": 0.1, "mde": 0.01, "variants": 1}, "variants must be a whole number"),
        ({"baseline": 0.1, "mde": 0.01, "split": (50, 25, 25)}, "one share per variant"),
        ({"baseline": 0.1, "mde": 0.01, "split": (50, 0)}, "every share of the split"),
        ({"baseline": 0.1, "mde": 0.01, "split": (50, -5)}, "every share of the split"),
        ({"baseline": 0.1, "mde": 0.01, "daily_users": 0}, "daily users must be above 0"),
        ({"baseline": 10, "mde": 1, "sd": 0.0}, r"sd must be above 0 \(got 0.0\)"),
        ({"baseline": 10, "mde": 1, "sd": -1.0}, "sd must be above 0"),
        ({"baseline": 0.0, "mde": 0.1, "sd": 1.0, "relative": True}, "non-zero baseline"),
        ({"baseline": 0.1, "mde": 0.01, "looks": 0}, "looks must be a whole number"),
        ({"baseline": 0.1, "mde": 0.01, "spending": "haybittle"}, "spending must be"),
    ],
)
def test_bad_parameters_raise_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        plan_sample_size(**options)


def test_mean_with_zero_baseline_has_no_relative_mde():
    assert plan_sample_size(baseline=0.0, mde=0.5, sd=2.0).mde_relative is None


@pytest.mark.parametrize(
    ("baseline", "n", "split"), [(0.10, 14751, None), (0.02, 5000, (60, 40)), (0.6, 300, None)]
)
def test_mde_for_sample_size_inverts_the_plan(baseline, n, split):
    mde = mde_for_sample_size(baseline=baseline, users_per_variant=n, split=split)
    assert mde > 0
    assert plan_sample_size(baseline=baseline, mde=mde, split=split).users_per_variant[0] == n


def test_mde_for_means_is_closed_form_and_inverts_the_plan():
    mde = mde_for_sample_size(baseline=5.0, users_per_variant=252, sd=2.0)
    assert mde == pytest.approx(2.0 * math.sqrt(2 / 252) * (1.959963984540054 + 0.8416212335729143))
    assert plan_sample_size(baseline=5.0, mde=mde, sd=2.0).users_per_variant == (252, 252)


def test_mde_for_sample_size_with_several_treatments_uses_bonferroni():
    two = mde_for_sample_size(baseline=0.1, users_per_variant=10_000)
    three = mde_for_sample_size(baseline=0.1, users_per_variant=10_000, variants=3)
    assert three > two
    assert three == pytest.approx(
        mde_for_sample_size(baseline=0.1, users_per_variant=10_000, alpha=0.025)
    )


def test_mde_for_too_few_users_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot detect any lift"):
        mde_for_sample_size(baseline=0.5, users_per_variant=2)
    with pytest.raises(ValueError, match="users_per_variant must be at least 2"):
        mde_for_sample_size(baseline=0.5, users_per_variant=1)


def test_mde_round_trip_property():
    """The MDE for n users asks for n users back. Where no lift is detectable (too few users for
    the baseline) the refusal must be right — statsmodels' one-tail formula needs more than n
    users even for the largest possible lift — and rare: a function that refused everything
    would otherwise pass."""
    seen: Counter[str] = Counter()

    @settings(max_examples=60, deadline=None)
    @given(
        baseline=st.floats(0.005, 0.9),
        n=st.integers(200, 2_000_000),
        treatment_share=st.floats(0.2, 0.8),
    )
    def round_trip(baseline, n, treatment_share):
        split = (1 - treatment_share, treatment_share)
        ratio = treatment_share / (1 - treatment_share)  # n_treatment / n_control
        try:
            mde = mde_for_sample_size(baseline=baseline, users_per_variant=n, split=split)
        except ValueError as error:
            assert "cannot detect any lift" in str(error)
            largest = (1 - baseline) * (1 - 1e-9)
            needed_treatment = samplesize_proportions_2indep_onetail(
                largest, baseline, 0.8, ratio=1 / ratio, alpha=0.05
            )
            assert needed_treatment / ratio > n  # control users for the largest lift
            seen["refused"] += 1
            return
        seen["solved"] += 1
        plan = plan_sample_size(baseline=baseline, mde=mde, split=split)
        assert abs(plan.users_per_variant[0] - n) <= 1

    round_trip()
    # Only a corner of the space is refused (a baseline near 90 %, about 200 users and a 20 %
    # treatment share need up to 208 control users for the largest lift), so nearly every
    # example must be solved.
    total = sum(seen.values())
    assert total >= 30 and seen["refused"] <= 0.1 * total, seen


@pytest.mark.parametrize(("baseline", "n"), [(0.5, 2), (0.5, 3), (0.9, 5)])
def test_mde_refusal_is_exactly_where_the_largest_lift_is_underpowered(baseline, n):
    """The refusal of mde_for_sample_size against statsmodels: no lift up to a rate of 1 reaches
    80 % power with n users per arm."""
    largest = (1 - baseline) * (1 - 1e-9)
    assert samplesize_proportions_2indep_onetail(largest, baseline, 0.8, alpha=0.05) > n
    with pytest.raises(ValueError, match="cannot detect any lift"):
        mde_for_sample_size(baseline=baseline, users_per_variant=n)
