"""The value matrix: quadrants of current and predicted value split at a quantile (the value
assets on generated data: tests/assets/test_value_assets.py)."""

import numpy as np
import pytest

from ml.value_matrix import value_quadrants


def test_quadrants_split_current_and_potential_value_at_the_quantile():
    current = np.array([10, 20, 30, 40, 50, 60, 70, 80])
    potential = np.array([80, 10, 70, 20, 60, 30, 50, 40])
    # Median split (45 for both): high current = the last four, high potential = 80, 70, 60, 50.
    assert list(value_quadrants(current, potential)) == [
        "growth",
        "marginal",
        "growth",
        "marginal",
        "strategic",
        "basic",
        "strategic",
        "basic",
    ]
    top = value_quadrants(current, potential, high_quantile=0.8)
    assert list(top).count("strategic") == 0 and set(top) == {"growth", "basic", "marginal"}
    assert len(value_quadrants(np.array([]), np.array([]))) == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        value_quadrants(current, potential, high_quantile=1.0)
