"""The BG/NBD buy-till-you-die model of repeat purchases (Fader, Hardie and Lee, 2005).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
repeat purchase they drop out for good with probability p ~ Beta(a, b). A customer's history is
summarised by x (repeat purchases), t_x (time from the first to the last purchase) and T (time
from the first purchase to the end of observation), all in the same unit (Weixi uses days).

Everything is vectorised over customers and computed in log space, so it stays finite for
customers with hundreds of purchases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

# Conditional expectations divide by (a - 1); the singularity at a = 1 is removable, and within
# this distance h of it the expectation is interpolated between its values at 1 - h and 1 + h
# (error of order h squared, instead of cancellation in the closed form).
_NEAR_ONE = 1e-4


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    @property
    def mean_rate(self) -> float:
        """Average purchase rate per time unit while alive."""
        return self.r / self.alpha

    @property
    def mean_dropout(self) -> float:
        """Average probability of dropping out after a repeat purchase."""
        return self.a / (self.a + self.b)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class BgNbdFit:
    """A maximum-likelihood fit: the parameters and how the optimiser ended."""

    params: BgNbdParams
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int


def log_likelihood(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood of (x, t_x, T) under ``params``."""
    counts, which = np.unique(np.asarray(x, dtype=float), return_inverse=True)
    return _log_likelihood(params, counts, which, np.asarray(t_x), np.asarray(T))


def _log_likelihood(
    params: BgNbdParams, counts: np.ndarray, which: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """The log-likelihood with x given as distinct ``counts`` and each customer's index into
    them: the gamma-function terms depend on x alone, and there are few distinct x."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + counts) - gammaln(r) + r * np.log(alpha)
    common += betaln(a, b + counts) - betaln(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Dropping out right after the last purchase needs a repeat purchase (x > 0).
        log_odds_factor = np.where(counts > 0, np.log(a) - np.log(b + counts - 1), -np.inf)
    x = counts[which]
    still_alive = -(r + x) * np.log(alpha + T)
    dropped = log_odds_factor[which] - (r + x) * np.log(alpha + t_x)
    return common[which] + np.logaddexp(still_alive, dropped)


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters for the customers (x, t_x, T), by L-BFGS-B on the
    log-parameters (all four stay positive)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if len(x) == 0:
        raise ValueError("BG/NBD: no customers to fit")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("BG/NBD: histories need x >= 0, 0 <= t_x <= T and t_x = 0 when x = 0")
    counts, which = np.unique(x, return_inverse=True)
    n = len(x)

    def objective(theta: np.ndarray) -> float:
        params = BgNbdParams(*np.exp(theta))
        return -float(_log_likelihood(params, counts, which, t_x, T).sum()) / n

    # Start from the observed rate so alpha is on the right scale for days or weeks alike.
    rate = max(float(x.sum() / max(T.sum(), 1e-9)), 1e-6)
    start = np.log([1.0, 1.0 / rate, 1.0, 3.0])
    result = minimize(objective, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise ValueError(f"BG/NBD: the fit did not give finite parameters ({result.message})")
    return BgNbdFit(
        params=BgNbdParams(*(float(v) for v in np.exp(result.x))),
        log_likelihood=-float(result.fun) * n,
        customers=n,
        converged=bool(result.success),
        iterations=int(result.nit),
    )


def _log_odds_dropped(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """log P(dropped out) - log P(alive) given the history; -inf without repeat purchases."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, odds, -np.inf)


def p_alive(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still alive at T | history). Exactly 1 for customers without a repeat purchase (the
    model lets customers drop out only after a repeat purchase), so it is no churn score."""
    return np.exp(-np.logaddexp(0.0, _log_odds_dropped(params, x, t_x, T)))


def _expected_if_alive(params: BgNbdParams, t: float, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + t] | alive at T, history]."""
    x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    if abs(params.a - 1) < _NEAR_ONE:
        below = _expected_if_alive_closed_form(params, 1 - _NEAR_ONE, t, x, T)
        above = _expected_if_alive_closed_form(params, 1 + _NEAR_ONE, t, x, T)
        weight = (params.a - (1 - _NEAR_ONE)) / (2 * _NEAR_ONE)
        return below + weight * (above - below)
    return _expected_if_alive_closed_form(params, params.a, t, x, T)


def _expected_if_alive_closed_form(
    params: BgNbdParams, a: float, t: float, x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """The closed form with dropout parameter ``a``, after Euler's transformation of the
    hypergeometric function, which keeps its arguments bounded in x (no overflow)."""
    r, alpha, b = params.r, params.alpha, params.b
    z = t / (alpha + T + t)
    survival_term = np.power(1 - z, a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * (1 - survival_term)


def expected_purchases(
    params: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Expected purchases in the next ``t`` time units (T, T + t] given each history."""
    if t <= 0:
        return np.zeros(np.shape(x))
    return p_alive(params, x, t_x, T) * _expected_if_alive(params, t, x, T)


def p_no_purchase(
    params: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """P(no purchase in the next ``t`` time units | history), in closed form: a customer who is
    alive stays alive until their next purchase, and their posterior rate is
    Gamma(r + x, alpha + T), so P(none | alive) = ((alpha + T) / (alpha + T + t))^(r + x)."""
    x = np.asarray(x, dtype=float)
    none_if_alive = np.exp(
        (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + T + t))
    )
    return 1 - p_alive(params, x, t_x, T) * (1 - none_if_alive)


def simulate(
    params: BgNbdParams, T: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (x, t_x) for customers observed for ``T`` time units after their first purchase,
    from the BG/NBD generative process with ``params``."""
    T = np.asarray(T, dtype=float)
    n = len(T)
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    # Repeat purchases the customer lives to make (drops out right after the last of them).
    lifetime_purchases = rng.geometric(dropout)
    arrivals = rng.poisson(rate * T)
    x = np.minimum(arrivals, lifetime_purchases)
    # The x-th of `arrivals` uniform arrival times in (0, T] is T * Beta(x, arrivals - x + 1).
    has = x > 0
    t_x = np.zeros(n)
    t_x[has] = T[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)
    return x.astype(float), t_x
