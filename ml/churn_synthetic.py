"""Synthetic churn snapshots with the columns of ``features.churn_feature_snapshots``, for
benchmarks at any size and for tests of the model steps that need no warehouse.

Each row is drawn independently: a buy-till-you-die customer (a purchase rate, alive or not)
seen at an as-of date, with purchases, spend, complaints and posts drawn to match. The label
follows the same story as the demo data: a dead customer does not come back, a live one buys
nothing in the horizon with probability exp(-rate x horizon), and a badly handled complaint
makes a customer leave with probability 0.65. Recency alone therefore predicts churn well, and
a model that also reads the purchase rhythm and complaint handling does better.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd


def synthetic_snapshots(
    customers: int,
    snapshots: int = 12,
    step_days: int = 30,
    horizon_days: int = 90,
    reference_date: date = date(2025, 12, 31),
    active_share: float = 0.6,
    seed: int = 0,
) -> pd.DataFrame:
    """``snapshots`` labelled as-of dates (the latest ``horizon_days`` before the reference
    date, then every ``step_days``) plus the unlabelled reference date, each with
    ``active_share`` of ``customers`` active customers."""
    rng = np.random.default_rng(seed)
    per_snapshot = max(1, int(customers * active_share))
    dates = [reference_date] + [
        reference_date - timedelta(days=horizon_days + step_days * k) for k in range(snapshots)
    ]
    n = per_snapshot * len(dates)
    as_of = np.repeat(np.array(dates, dtype="datetime64[D]"), per_snapshot)
    customer = np.tile(np.arange(per_snapshot), len(dates))

    rate = np.clip(rng.gamma(0.9, 0.05, n), 0.002, 0.5)
    dead = rng.random(n) < 0.35
    recency = np.where(
        dead, rng.uniform(0, 365, n), np.minimum(rng.exponential(1 / rate), 365)
    ).astype(np.int64)
    tenure = recency + rng.integers(0, 900, n)
    purchases = 1 + rng.poisson(rate * (tenure - recency) * 0.7)
    aov = np.round(rng.lognormal(5.9, 0.8, n), 2)
    live_spell = np.clip(180 - recency, 0, 180)
    last_90 = np.where(recency < 90, 1 + rng.poisson(rate * np.clip(90 - recency, 0, 90)), 0)
    prior_90 = rng.poisson(rate * np.clip(live_spell - 90, 0, 90) + rate * 30 * (recency >= 90))
    repeat = purchases > 1
    mean_gap = np.where(repeat, (tenure - recency) / np.maximum(purchases - 1, 1), np.nan)
    complaints = rng.poisson(0.05 * purchases)
    late = rng.binomial(complaints, 0.18)
    uncompensated = rng.binomial(complaints - late, 0.08)
    badly = late + uncompensated
    csat = np.where(
        rng.random(n) < 0.25, np.clip(5 - 2 * (badly > 0) - rng.integers(0, 2, n), 1, 5), -1
    )
    nps = np.where(
        rng.random(n) < 0.12, np.clip(9 - 4 * (badly > 0) - rng.integers(0, 3, n), 0, 10), -1
    )
    posts = rng.poisson(0.1 * purchases)
    negative = rng.binomial(posts, np.where(badly > 0, 0.5, 0.05))
    trailing = aov * np.minimum(purchases, 1 + rng.poisson(rate * 365))
    refunds = rng.binomial(purchases, 0.04)

    left_after_complaint = (badly > 0) & (rng.random(n) < 0.65)
    quiet_horizon = rng.random(n) < np.exp(-rate * horizon_days)
    churned = dead | left_after_complaint | quiet_horizon
    reference = np.datetime64(reference_date, "D")
    labelled = as_of + horizon_days <= reference

    def nullable(values: np.ndarray, missing: np.ndarray) -> pd.Series:
        return pd.Series(values).astype("Int32").mask(missing)

    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(customer).map("S{:07d}".format),
            "as_of": as_of.astype("datetime64[us]"),
            "reference_date": np.full(n, reference).astype("datetime64[us]"),
            "is_scoring_snapshot": as_of == reference,
            "label_window_end": (as_of + horizon_days).astype("datetime64[us]"),
            "churned": pd.Series(churned, dtype="boolean").mask(~labelled),
            "customer_type": np.where(rng.random(n) < 0.08, "business", "consumer"),
            "tenure_days": tenure.astype(np.int32),
            "last_purchase_date": (as_of - recency).astype("datetime64[us]"),
            "recency_days": recency.astype(np.int32),
            "purchases": purchases.astype(np.int32),
            "net_revenue": np.round(aov * purchases, 2),
            "avg_order_value": aov,
            "purchases_last_90d": last_90.astype(np.int32),
            "purchases_prior_90d": prior_90.astype(np.int32),
            "spend_last_90d": np.round(aov * last_90, 2),
            "spend_prior_90d": np.round(aov * prior_90, 2),
            "spend_change_ratio": np.where(
                prior_90 > 0, (last_90 - prior_90) / np.maximum(prior_90, 1), np.nan
            ),
            "mean_gap_days": mean_gap,
            "last_gap_days": nullable(
                np.nan_to_num(np.round(mean_gap * rng.uniform(0.3, 1.7, n))), ~repeat
            ),
            "recency_gap_ratio": recency / mean_gap,
            "categories": np.minimum(8, 1 + rng.poisson(0.4 * purchases)).astype(np.int32),
            "refunds": refunds.astype(np.int32),
            "refund_share": refunds / purchases,
            "trailing_12m_spend": np.round(trailing, 2),
            "membership_tier": np.select(
                [trailing >= 20_000, trailing >= 10_000], ["gold", "silver"], "standard"
            ),
            "complaints": complaints.astype(np.int32),
            "complaints_last_90d": rng.binomial(complaints, 0.25).astype(np.int32),
            "unresolved_complaints": rng.binomial(complaints, 0.01).astype(np.int32),
            "late_reply_complaints": late.astype(np.int32),
            "uncompensated_serious_complaints": uncompensated.astype(np.int32),
            "badly_handled_complaints": badly.astype(np.int32),
            "avg_resolution_hours": np.where(complaints > 0, rng.lognormal(3.4, 0.7, n), np.nan),
            "compensation_amount": np.where(
                complaints > 0, np.round(rng.exponential(30, n), 2), 0.0
            ),
            "days_since_last_complaint": nullable(rng.integers(0, 700, n), complaints == 0),
            "last_csat": nullable(csat, csat < 0),
            "last_nps": nullable(nps, nps < 0),
            "posts": posts.astype(np.int32),
            "negative_posts": negative.astype(np.int32),
            "avg_sentiment_score": np.where(
                posts > 0, np.clip(0.7 - 1.6 * negative / np.maximum(posts, 1), -1, 1), np.nan
            ),
        }
    )
    return frame
