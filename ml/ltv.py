"""Customer lifetime value: purchase histories, the BG/NBD + Gamma-Gamma model, discounted value
over a horizon, and a holdout test against naive forecasts.

A transaction is a purchase day: several orders of a customer on one day are one purchase with
their revenue summed (BG/NBD counts events in continuous time; same-day orders are one visit).
Time is measured in days. As in BG/NBD, ``frequency`` is the number of *repeat* purchase days,
``recency`` the days from the first to the last purchase and ``T`` the days from the first
purchase to the as-of date.

Gamma-Gamma learns spend per purchase from the mean over *all* a customer's purchase days, the
first included (lifetimes' convention uses repeat purchases only): the demo data and most shops
have no reason to think the first purchase differs, and a one-time buyer's purchase says
something about what they spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml import bgnbd, gamma_gamma
from ml.history import NotEnoughHistory

MODEL = "customer_value"
DAYS_PER_MONTH = 365.25 / 12
MIN_HOLDOUT_DAYS = 90
MIN_CUSTOMERS = 100
MIN_REPEAT_BUYERS = 30
HISTORY_COLUMNS = [
    "customer_id",
    "first_purchase_date",
    "last_purchase_date",
    "purchases",
    "frequency",
    "recency",
    "T",
    "revenue",
    "mean_spend",
]


@dataclass(frozen=True)
class ValueModel:
    """Fitted purchase-count (BG/NBD) and spend (Gamma-Gamma) models."""

    purchases: bgnbd.BgNbdFit
    spend: gamma_gamma.GammaGammaFit

    def parameters(self) -> dict[str, float]:
        """All fitted parameters, named as in the papers (r, alpha, a, b, p, q, gamma)."""
        return {**self.purchases.params.as_dict(), **self.spend.params.as_dict()}


def purchase_histories(transactions: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``as_of``: first and last purchase date,
    purchase days, frequency / recency / T (days), revenue and the mean revenue per purchase
    day.

    ``transactions`` has one row per purchase: customer_id, order_date, revenue."""
    frame = transactions.loc[
        pd.to_datetime(transactions["order_date"]) <= pd.Timestamp(as_of),
        ["customer_id", "order_date", "revenue"],
    ].copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"]).dt.normalize()
    frame["revenue"] = frame["revenue"].astype(float)
    days = frame.groupby(["customer_id", "order_date"], as_index=False, sort=True)["revenue"].sum()
    by_customer = days.groupby("customer_id", sort=True)
    totals = by_customer.agg(
        first_purchase_date=("order_date", "min"),
        last_purchase_date=("order_date", "max"),
        purchases=("order_date", "size"),
        revenue=("revenue", "sum"),
    ).reset_index()
    return histories_from_totals(totals, as_of)


def histories_from_totals(totals: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """:func:`purchase_histories` from per-customer totals of purchase days up to ``as_of``, as
    a warehouse query sums them without handing over every transaction: one row per customer
    (in customer order) with first_purchase_date, last_purchase_date, purchases (purchase
    days) and revenue."""
    out = totals.reset_index(drop=True)
    for column in ("first_purchase_date", "last_purchase_date"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    out["revenue"] = out["revenue"].astype(float)
    out["frequency"] = out["purchases"] - 1
    out["recency"] = (out["last_purchase_date"] - out["first_purchase_date"]).dt.days
    out["T"] = (pd.Timestamp(as_of) - out["first_purchase_date"]).dt.days
    out["mean_spend"] = out["revenue"] / out["purchases"]
    return out[HISTORY_COLUMNS].astype({"purchases": "int64", "frequency": "int64"})


def holdout_days(histories: pd.DataFrame, as_of: date, horizon_days: int) -> int:
    """The holdout length to validate with: the horizon, or half the purchase history when that
    is shorter. Raises ``NotEnoughHistory`` when it would be under ``MIN_HOLDOUT_DAYS``."""
    if histories.empty:
        raise NotEnoughHistory(MODEL, "purchases", "none")
    history_days = (pd.Timestamp(as_of) - histories["first_purchase_date"].min()).days
    days = min(horizon_days, history_days // 2)
    if days < MIN_HOLDOUT_DAYS:
        raise NotEnoughHistory(
            MODEL,
            f"{2 * MIN_HOLDOUT_DAYS} days of purchases (a calibration period and a holdout of "
            f"at least {MIN_HOLDOUT_DAYS} days)",
            f"{history_days} days",
        )
    return days


def check_customers(histories: pd.DataFrame, period: str) -> None:
    """Raise ``NotEnoughHistory`` unless ``histories`` hold enough customers for BG/NBD and
    enough repeat buyers for Gamma-Gamma."""
    repeat_buyers = int((histories["frequency"] > 0).sum())
    if len(histories) < MIN_CUSTOMERS or repeat_buyers < MIN_REPEAT_BUYERS:
        raise NotEnoughHistory(
            MODEL,
            f"{MIN_CUSTOMERS} customers and {MIN_REPEAT_BUYERS} repeat buyers {period}",
            f"{len(histories)} customers, {repeat_buyers} repeat buyers",
        )


def fit_value_model(histories: pd.DataFrame) -> ValueModel:
    """Fit BG/NBD on every customer's (frequency, recency, T) and Gamma-Gamma on every
    customer's (purchases, mean spend) with a positive spend (fully refunded purchases have
    none)."""
    purchases = bgnbd.fit(histories["frequency"], histories["recency"], histories["T"])
    spent = histories[histories["mean_spend"] > 0]
    spend = gamma_gamma.fit(spent["purchases"], spent["mean_spend"])
    return ValueModel(purchases=purchases, spend=spend)


def expected_spend_per_purchase(model: ValueModel, histories: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma's expected spend of each customer's next purchases."""
    return gamma_gamma.expected_spend(
        model.spend.params,
        histories["purchases"].to_numpy(dtype=float),
        histories["mean_spend"].to_numpy(dtype=float),
    )


def discounted_value(
    params: bgnbd.BgNbdParams,
    spend_per_purchase: np.ndarray,
    histories: pd.DataFrame,
    months: int,
    annual_discount_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases over ``months`` and their value discounted to the as-of date: each
    month's expected purchases x expected spend / (1 + rate)^(m / 12), summed."""
    x, t_x, T = (histories[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    value = np.zeros(len(histories))
    previous = np.zeros(len(histories))
    for month in range(1, months + 1):
        cumulative = bgnbd.expected_purchases(params, month * DAYS_PER_MONTH, x, t_x, T)
        value += (
            (cumulative - previous)
            * spend_per_purchase
            / (1 + annual_discount_rate) ** (month / 12)
        )
        previous = cumulative
    return previous, value


def score_customers(
    model: ValueModel,
    histories: pd.DataFrame,
    months: int,
    annual_discount_rate: float,
    churn_horizon_days: int,
) -> pd.DataFrame:
    """Per customer (same order as ``histories``): P(alive), expected purchases and P(no
    purchase) over the churn horizon, expected purchases over ``months``, expected spend per
    purchase and the discounted value over ``months``."""
    params = model.purchases.params
    x, t_x, T = (histories[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    spend = expected_spend_per_purchase(model, histories)
    purchases, value = discounted_value(params, spend, histories, months, annual_discount_rate)
    return pd.DataFrame(
        {
            "p_alive": bgnbd.p_alive(params, x, t_x, T),
            "expected_purchases_churn_horizon": bgnbd.expected_purchases(
                params, churn_horizon_days, x, t_x, T
            ),
            "p_no_purchase_churn_horizon": bgnbd.p_no_purchase(
                params, churn_horizon_days, x, t_x, T
            ),
            "expected_purchases_ltv_horizon": purchases,
            "expected_spend_per_order": spend,
            "clv": value,
        },
        index=histories.index,
    )


@dataclass(frozen=True)
class Comparison:
    """A holdout figure of the model beside the same figure of naive forecasts."""

    metric: str
    model: float
    baselines: dict[str, float]


@dataclass(frozen=True)
class Holdout:
    """The model calibrated on purchases up to ``cutoff``, tested on the ``days`` after it."""

    cutoff: date
    days: int
    customers: int
    model: ValueModel
    comparisons: list[Comparison]


def holdout_test(transactions: pd.DataFrame, as_of: date, days: int) -> Holdout:
    """Calibrate on the purchases up to ``as_of - days``, predict each calibration customer's
    purchases and revenue in the ``days`` after, and compare with what happened and with two
    naive forecasts: ``historic_rate`` (the customer's repeat-purchase rate so far, at their own
    mean spend) and ``last_period`` (the same as in the ``days`` before the cut-off)."""
    cutoff = as_of - timedelta(days=days)
    calibration = purchase_histories(transactions, cutoff)
    check_customers(calibration, f"before the holdout of {days} days")
    model = fit_value_model(calibration)
    params = model.purchases.params
    x, t_x, T = (calibration[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    spend = expected_spend_per_purchase(model, calibration)
    predicted = bgnbd.expected_purchases(params, days, x, t_x, T)

    actual = _purchase_days_between(transactions, cutoff, as_of, calibration["customer_id"])
    last = _purchase_days_between(
        transactions, cutoff - timedelta(days=days), cutoff, calibration["customer_id"]
    )
    own_mean = calibration["mean_spend"].to_numpy()
    historic = np.divide(x, T, out=np.zeros_like(x), where=T > 0) * days
    purchase_forecasts = {"historic_rate": historic, "last_period": last["purchases"].to_numpy()}
    revenue_forecasts = {
        "historic_rate": historic * own_mean,
        "last_period": last["revenue"].to_numpy(),
    }
    bought = actual["purchases"].to_numpy() > 0
    actual_spend = actual["revenue"].to_numpy()[bought] / actual["purchases"].to_numpy()[bought]
    population_mean = calibration["revenue"].sum() / calibration["purchases"].sum()
    spend_forecasts = {
        "own_mean": own_mean[bought],
        "population_mean": np.full(bought.sum(), population_mean),
    }
    purchases, revenue = actual["purchases"].to_numpy(), actual["revenue"].to_numpy()
    comparisons = [
        _compare("holdout_purchases_mae", _mae, purchases, predicted, purchase_forecasts),
        _compare("holdout_purchases_rmse", _rmse, purchases, predicted, purchase_forecasts),
        _compare(
            "holdout_purchases_total_error", _total_error, purchases, predicted, purchase_forecasts
        ),
        _compare("holdout_revenue_mae", _mae, revenue, predicted * spend, revenue_forecasts),
        _compare(
            "holdout_revenue_total_error",
            _total_error,
            revenue,
            predicted * spend,
            revenue_forecasts,
        ),
        _compare(
            "holdout_revenue_top20_capture",
            _top_share,
            revenue,
            predicted * spend,
            revenue_forecasts,
        ),
        _compare("holdout_spend_per_order_mae", _mae, actual_spend, spend[bought], spend_forecasts),
    ]
    return Holdout(cutoff, days, len(calibration), model, comparisons)


def _purchase_days_between(
    transactions: pd.DataFrame, after: date, until: date, customers: pd.Series
) -> pd.DataFrame:
    """Purchase days and revenue of each of ``customers`` in (after, until], zeros included."""
    dates = pd.to_datetime(transactions["order_date"]).dt.normalize()
    inside = transactions[(dates > pd.Timestamp(after)) & (dates <= pd.Timestamp(until))]
    per_day = (
        inside.assign(order_date=dates[inside.index])
        .groupby(["customer_id", "order_date"])["revenue"]
        .sum()
    )
    per_customer = per_day.astype(float).groupby(level="customer_id").agg(["size", "sum"])
    per_customer.columns = ["purchases", "revenue"]
    return per_customer.reindex(customers, fill_value=0).reset_index(drop=True)


def _compare(
    metric: str,
    measure,
    actual: np.ndarray,
    model: np.ndarray,
    baselines: dict[str, np.ndarray],
) -> Comparison:
    return Comparison(
        metric,
        measure(actual, model),
        {name: measure(actual, forecast) for name, forecast in baselines.items()},
    )


def _mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual))) if len(actual) else float("nan")


def _rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((forecast - actual) ** 2))) if len(actual) else float("nan")


def _total_error(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Relative error of the total: sum(forecast) / sum(actual) - 1."""
    total = float(np.sum(actual))
    return float(np.sum(forecast)) / total - 1 if total > 0 else float("nan")


def _top_share(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of the actual total held by the 20% of customers with the highest forecast. Ties in
    the forecast break in a fixed random order, so a constant forecast does no better than
    chance."""
    total = float(np.sum(actual))
    if total <= 0:
        return float("nan")
    top = int(np.ceil(0.2 * len(actual)))
    shuffle = np.random.default_rng(0).permutation(len(actual))
    ranked = np.lexsort((shuffle, -forecast))[:top]
    return float(np.sum(actual[ranked])) / total
