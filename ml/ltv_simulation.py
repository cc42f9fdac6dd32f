"""Synthetic purchase logs drawn from the BG/NBD and Gamma-Gamma processes, for tests and
benchmarks of the lifetime-value model: the parameters behind them are known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ml.bgnbd import BgNbdParams
from ml.gamma_gamma import GammaGammaParams


def simulate_transactions(
    purchases: BgNbdParams,
    spend: GammaGammaParams,
    customers: int,
    start: date,
    end: date,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per purchase (customer_id, order_date, revenue) of ``customers`` customers whose
    first purchase falls uniformly in [start, end]; later purchases follow BG/NBD (time in
    days) until ``end`` and each purchase's value follows Gamma-Gamma."""
    span = (end - start).days
    first = rng.integers(0, span + 1, customers)
    observed = (span - first).astype(float)
    rate = rng.gamma(purchases.r, 1 / purchases.alpha, customers)
    dropout = rng.beta(purchases.a, purchases.b, customers)
    nu = rng.gamma(spend.q, 1 / spend.gamma, customers)
    # Arrivals of a Poisson process over the observed time, in time order; the customer makes
    # the first `lifetime` of them and drops out after the last.
    arrivals = rng.poisson(rate * observed)
    lifetime = rng.geometric(dropout)
    owner = np.repeat(np.arange(customers), arrivals)
    when = rng.random(len(owner)) * observed[owner]
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(arrivals) - arrivals, arrivals)
    keep = rank < lifetime[owner]
    owner = np.concatenate([np.arange(customers), owner[keep]])
    day = np.concatenate([first, first[owner[customers:]] + np.floor(when[keep]).astype(int)])
    revenue = rng.gamma(spend.p, 1 / nu[owner])
    ids = np.array([f"S{i:07d}" for i in range(customers)], dtype=object)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids[owner], dtype="string"),
            "order_date": pd.Timestamp(start) + pd.to_timedelta(day, unit="D"),
            "revenue": np.round(revenue, 2),
        }
    ).sort_values(["customer_id", "order_date"], ignore_index=True)
