"""Small probabilities are written out in full, never rounded to zero or in e-notation."""

from __future__ import annotations

import pytest
from scipy.stats import norm

from experimentos.formatting import small_p


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2 * norm.sf(4.877), "0.0000011"),  # O'Brien–Fleming-type look 1 of 5
        (0.00001, "0.00001"),  # the SRM Blocked threshold (str() gives '1e-05')
        (0.001, "0.001"),
        (0.0412, "0.041"),
        (0.05, "0.05"),
    ],
)
def test_small_p_keeps_two_significant_digits(value: float, shown: str) -> None:
    assert small_p(value) == shown
    assert float(shown) == pytest.approx(value, rel=0.05)
