"""The value matrix: current value (revenue so far) against potential value (predicted future
value) places each customer in one of four quadrants."""

from __future__ import annotations

import numpy as np

QUADRANTS = ("strategic", "growth", "basic", "marginal")
"""high/high, low current + high potential, high current + low potential, low/low."""


def value_quadrants(
    current_value: np.ndarray, potential_value: np.ndarray, high_quantile: float = 0.5
) -> np.ndarray:
    """Each customer's quadrant. A value is high when it is at or above the ``high_quantile``
    quantile of that value over all customers (0.5: the median; 0.8: the top 20%)."""
    if not 0 < high_quantile < 1:
        raise ValueError(f"high_quantile must be between 0 and 1, got {high_quantile}")
    current = np.asarray(current_value, dtype=float)
    potential = np.asarray(potential_value, dtype=float)
    if len(current) == 0:
        return np.array([], dtype=object)
    high_current = current >= np.quantile(current, high_quantile)
    high_potential = potential >= np.quantile(potential, high_quantile)
    return np.select(
        [high_current & high_potential, high_potential, high_current],
        ["strategic", "growth", "basic"],
        default="marginal",
    ).astype(object)
