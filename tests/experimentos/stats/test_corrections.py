"""Multiple-comparison corrections (SPEC §2.6) against statsmodels' multipletests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from experimentos.stats.corrections import adjust_p_values

STATSMODELS_NAME = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh"}
METHODS = sorted(STATSMODELS_NAME)

p_value = st.one_of(
    st.floats(0, 1),
    st.sampled_from([0.0, 1.0, 0.05, 0.01, 0.5]),  # ties, and p at the ends of [0, 1]
)
p_lists = st.one_of(
    st.lists(p_value, min_size=1, max_size=12),
    st.lists(st.sampled_from([0.001, 0.02, 0.04, 1.0]), min_size=2, max_size=8),  # many ties
)


@settings(max_examples=60, deadline=None)
@given(p_lists, st.sampled_from(METHODS))
def test_adjusted_p_values_match_statsmodels(p_values, method):
    ours = adjust_p_values(p_values, method=method)
    _, reference, _, _ = multipletests(p_values, method=STATSMODELS_NAME[method])
    assert ours == pytest.approx(tuple(reference), rel=1e-12, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(p_lists, st.sampled_from(METHODS))
def test_adjusted_p_values_are_valid_and_keep_the_order(p_values, method):
    """Never below the raw p: BH's largest p times m/m once came out 1 ulp below it (p·m/rank
    rounds; p·(m/rank) multiplies by exactly 1.0)."""
    ours = adjust_p_values(p_values, method=method)
    assert len(ours) == len(p_values)
    for raw, adjusted in zip(p_values, ours, strict=True):
        assert raw <= adjusted <= 1
    ranked = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted_in_rank = [ours[i] for i in ranked]
    assert adjusted_in_rank == sorted(adjusted_in_rank)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # p = (0.01, 0.04, 0.03, 1.0), m = 4
        ("bonferroni", (0.04, 0.16, 0.12, 1.0)),
        # Holm: sorted 0.01·4, 0.03·3, 0.04·2, 1·1 → 0.04, 0.09, 0.09 (monotone), 1
        ("holm", (0.04, 0.09, 0.09, 1.0)),
        # BH: 0.01·4/1, 0.03·4/2, 0.04·4/3, 1·4/4 → 0.04, 0.06, 0.0533 → step-up min 0.0533
        ("bh", (0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 1.0)),
    ],
)
def test_worked_example(method, expected):
    assert adjust_p_values([0.01, 0.04, 0.03, 1.0], method=method) == pytest.approx(expected)


def test_a_single_comparison_is_not_adjusted():
    for method in METHODS:
        assert adjust_p_values([0.03], method=method) == (0.03,)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1, 0.2], method="sidak")  # type: ignore[arg-type]
