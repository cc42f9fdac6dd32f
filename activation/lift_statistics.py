"""Treatment minus control, with a confidence interval and a p-value.

- Rates (repurchase, churn): the difference of two proportions with Newcombe's hybrid score
  interval (his method 10: built from the two Wilson score intervals), which keeps its coverage
  for small groups and rates near 0 or 1 where the Wald interval does not; p-value from the
  pooled two-proportion z-test.
- Means (revenue per customer): Welch's t interval and test (unequal variances, Welch-
  Satterthwaite degrees of freedom). Revenue is skewed, but the mean of a few dozen customers or
  more is close enough to normal; for fewer the interval is only indicative.
- Several tests of one audience: Holm's adjustment (:func:`holm_adjusted`).

Every function takes scalars or NumPy arrays (one experiment per element), so that simulations
can check the coverage of many experiments at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """Treatment minus control: the estimate, its confidence interval and the two-sided p-value
    of no difference (NaN where the groups are too small to say)."""

    estimate: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float
    p_value: np.ndarray | float


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(
    successes: np.ndarray | float, n: np.ndarray | float, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a proportion ``successes / n`` (NaN where n = 0)."""
    x, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def proportion_difference(
    treatment_successes: np.ndarray | float,
    treatment_n: np.ndarray | float,
    control_successes: np.ndarray | float,
    control_n: np.ndarray | float,
    confidence: float = CONFIDENCE,
) -> Difference:
    """Treatment rate minus control rate, Newcombe's hybrid score interval, pooled z-test."""
    x1, n1 = np.asarray(treatment_successes, float), np.asarray(treatment_n, float)
    x2, n2 = np.asarray(control_successes, float), np.asarray(control_n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        low1, high1 = wilson_interval(x1, n1, confidence)
        low2, high2 = wilson_interval(x2, n2, confidence)
        estimate = p1 - p2
        low = estimate - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
        high = estimate + np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        # Both groups all 0 or all 1: no evidence of a difference.
        p_value = np.where(se > 0, 2 * stats.norm.sf(np.abs(estimate) / se), 1.0)
    p_value = np.where((n1 > 0) & (n2 > 0), p_value, np.nan)
    return Difference(_out(estimate), _out(low), _out(high), _out(p_value))


def mean_difference(
    treatment_mean: np.ndarray | float,
    treatment_variance: np.ndarray | float,
    treatment_n: np.ndarray | float,
    control_mean: np.ndarray | float,
    control_variance: np.ndarray | float,
    control_n: np.ndarray | float,
    confidence: float = CONFIDENCE,
) -> Difference:
    """Treatment mean minus control mean with Welch's t interval and test. Variances are the
    sample variances (ddof 1); each group needs two members."""
    m1, v1, n1 = (np.asarray(a, float) for a in (treatment_mean, treatment_variance, treatment_n))
    m2, v2, n2 = (np.asarray(a, float) for a in (control_mean, control_variance, control_n))
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = v1 / n1, v2 / n2
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        estimate = m1 - m2
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
        p_value = 2 * stats.t.sf(np.abs(estimate) / se, df)
    # No spread in either group: the difference is exact.
    exact = se == 0
    half = np.where(exact, 0.0, half)
    p_value = np.where(exact, np.where(estimate == 0, 1.0, 0.0), p_value)
    enough = (n1 >= 2) & (n2 >= 2)
    low = np.where(enough, estimate - half, np.nan)
    high = np.where(enough, estimate + half, np.nan)
    return Difference(
        _out(estimate), _out(low), _out(high), _out(np.where(enough, p_value, np.nan))
    )


def _out(values: np.ndarray) -> np.ndarray | float:
    """A plain float for a scalar computation, the array otherwise."""
    return float(values) if np.ndim(values) == 0 else values


def holm_adjusted(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values: each adjusted value is at most 1,
    never below its raw value, and the order of the raw values is kept. Rejecting where the
    adjusted value is below alpha keeps the chance of any false rejection in the family at
    most alpha, whatever the dependence between the tests. NaN values are not in the family
    and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    # The i-th smallest (0-based) is multiplied by m - i; the running maximum keeps the order.
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted
