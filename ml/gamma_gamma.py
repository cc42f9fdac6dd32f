"""The Gamma-Gamma model of spend per purchase (Fader, Hardie and Lee, 2005, "RFM and CLV").

Each purchase's value is Gamma(p, nu) with a customer-specific nu ~ Gamma(q, gamma), so a
customer's expected spend is their own average shrunk towards the population mean, the more the
fewer purchases they made. It assumes spend per purchase is independent of purchase frequency;
``spend_frequency_correlation`` reports how far the data agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters: spend ~ Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float

    @property
    def mean_spend(self) -> float:
        """Population mean spend per purchase (finite because the fit keeps q > 1)."""
        return self.p * self.gamma / (self.q - 1)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaFit:
    """A maximum-likelihood fit: the parameters and how the optimiser ended."""

    params: GammaGammaParams
    log_likelihood: float
    customers: int
    converged: bool


def log_likelihood(params: GammaGammaParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood of the mean spend ``m`` over ``x`` purchases (x, m > 0)."""
    p, q, g = params.p, params.q, params.gamma
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + g)
    )


def fit(x: np.ndarray, m: np.ndarray) -> GammaGammaFit:
    """Maximum-likelihood parameters from customers' purchase counts ``x`` and mean spend ``m``.

    Only customers with x > 0 and m > 0 carry information (callers pass the repeat buyers).
    q is kept above 1 (fitted as 1 + exp(theta)) so the population mean spend exists."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    if len(x) == 0 or np.any(x <= 0) or np.any(m <= 0):
        raise ValueError("Gamma-Gamma: needs customers with purchases (x > 0) and spend (m > 0)")
    n = len(x)
    scale = float(np.median(m))

    def unpack(theta: np.ndarray) -> GammaGammaParams:
        # Spend is fitted in units of the median so the optimiser sees numbers near 1.
        return GammaGammaParams(np.exp(theta[0]), 1 + np.exp(theta[1]), np.exp(theta[2]))

    def objective(theta: np.ndarray) -> float:
        return -float(log_likelihood(unpack(theta), x, m / scale).sum()) / n

    result = minimize(
        objective, np.log([2.0, 2.0, 1.0]), method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 3
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise ValueError(f"Gamma-Gamma: the fit did not give finite parameters ({result.message})")
    unit = unpack(result.x)
    params = GammaGammaParams(float(unit.p), float(unit.q), float(unit.gamma) * scale)
    return GammaGammaFit(
        params=params,
        log_likelihood=float(log_likelihood(params, x, m).sum()),
        customers=n,
        converged=bool(result.success),
    )


def expected_spend(params: GammaGammaParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Expected spend per purchase given ``x`` purchases of mean value ``m``: a weighted mean of
    the customer's own average and the population mean. Customers with x = 0 get the
    population mean."""
    x, m = np.asarray(x, dtype=float), np.nan_to_num(np.asarray(m, dtype=float))
    p, q, g = params.p, params.q, params.gamma
    return p * (g + x * m) / (p * x + q - 1)


def spend_frequency_correlation(x: np.ndarray, m: np.ndarray) -> float:
    """Pearson correlation of purchase count and mean spend among customers with more than one
    purchase; Gamma-Gamma assumes it is near 0."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    keep = x > 1
    if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(m[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(x[keep], m[keep])[0, 1])


def simulate(params: GammaGammaParams, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each customer's mean spend over ``x`` purchases (x > 0) from the model: the sum
    of x Gamma(p, nu) values is Gamma(p x, nu)."""
    x = np.asarray(x, dtype=float)
    nu = rng.gamma(params.q, 1 / params.gamma, len(x))
    return rng.gamma(params.p * x, 1 / nu) / x
