"""The scipy.special-based distribution functions against scipy.stats, on the ranges we use."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from experimentos.stats import distributions as d

Z = np.array([-40.0, -8.5, -3.0, -1.96, -0.1, 0.0, 0.3, 1.0, 2.5, 6.0, 38.0])
Q = np.array([1e-300, 1e-12, 2.5e-5, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-12])


def test_normal_functions_equal_scipy_stats() -> None:
    np.testing.assert_allclose(d.norm_cdf(Z), stats.norm.cdf(Z), rtol=1e-15, atol=0)
    np.testing.assert_allclose(d.norm_sf(Z), stats.norm.sf(Z), rtol=1e-15, atol=0)
    np.testing.assert_allclose(d.norm_pdf(Z), stats.norm.pdf(Z), rtol=1e-14, atol=0)
    np.testing.assert_allclose(d.norm_ppf(Q), stats.norm.ppf(Q), rtol=1e-15)
    np.testing.assert_allclose(d.norm_isf(Q), stats.norm.isf(Q), rtol=1e-15)


@pytest.mark.parametrize("dof", [1.0, 2.7, 30.0, 118.4, 1e6, np.inf])
def test_student_t_equals_scipy_stats(dof: float) -> None:
    np.testing.assert_allclose(d.t_sf(Z, dof), stats.t.sf(Z, dof), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(d.t_ppf(Q[1:], dof), stats.t.ppf(Q[1:], dof), rtol=1e-12)


@pytest.mark.parametrize("dof", [1, 2, 5, 79])
def test_chi_square_tail_equals_scipy_stats(dof: int) -> None:
    x = np.array([0.0, 0.01, 1.0, 3.84, 20.0, 300.0])
    np.testing.assert_allclose(d.chi2_sf(x, dof), stats.chi2.sf(x, dof), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1.0, 1.0),
        (2.0, 9.0),
        (1.5, 0.7),
        (19.9, 40.0),  # either side of where the Stirling form takes over
        (20.0, 30.0),
        (1_001.0, 9_001.0),
        (1e5, 9e5),
        (8.7e8, 7.8e9),
        (3e3, 2e13),
    ],
)
def test_beta_density_equals_scipy_stats(a: float, b: float) -> None:
    """Over each posterior's central mass, where the Bayesian view integrates it."""
    low, high = stats.beta.ppf([1e-9, 1 - 1e-9], a, b)
    x = np.linspace(low, high, 401)
    ours, theirs = d.beta_pdf(x, a, b), stats.beta.pdf(x, a, b)
    # Both are within 4e-11 of a 50-digit mpmath evaluation at 10⁹ users, 1e-13 below 10⁶.
    np.testing.assert_allclose(ours, theirs, rtol=1e-10 if a > 1e6 else 1e-12)
    assert d.beta_pdf(np.array([-0.1, 1.1]), a, b).tolist() == [0.0, 0.0]
    ends = d.beta_pdf(np.array([0.0, 1.0]), a, b)  # the Bayesian grid's first and last points
    np.testing.assert_array_equal(ends, stats.beta.pdf([0.0, 1.0], a, b))


def test_trapezoid_rules_equal_scipy_integrate() -> None:
    x = np.sort(np.random.default_rng(7).uniform(0, 3, 500))
    y = np.vstack([np.sin(x), x**2])
    assert d.trapezoid(y[0], x) == pytest.approx(integrate.trapezoid(y[0], x), rel=1e-14)
    np.testing.assert_allclose(
        d.cumulative_trapezoid(y, x),
        integrate.cumulative_trapezoid(y, x, initial=0.0, axis=1),
        rtol=1e-13,
        atol=1e-15,
    )


def test_root_finds_the_zero() -> None:
    assert d.root(lambda v: v**3 - 2.0, 0.0, 2.0, xtol=1e-14) == pytest.approx(2 ** (1 / 3))
