"""From the snapshot table (``features.churn_feature_snapshots``) to the churn model's matrix.

The SQL computes facts as of each date; this module turns them into numbers a model can use:
counts and amounts on a log scale (a customer with 40 orders is not ten times one with 4),
missing values filled with what they mean (no complaint, no survey answer: no shortfall), and
each model feature assigned to the reason group a marketer reads it under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

SNAPSHOT_KEYS = ("customer_id", "as_of")
LABEL = "churned"


def _number(frame: pd.DataFrame, column: str, fill: float = 0.0) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").astype(float).fillna(fill).to_numpy()


def _log(column: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda f: np.log1p(np.clip(_number(f, column), 0, None))


def _plain(column: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda f: _number(f, column)


@dataclass(frozen=True)
class ModelFeature:
    """One column of the model matrix, computed from the snapshot columns, in a reason group.

    ``risk`` is the known direction of its effect, all else equal: 1 when more of it can only
    raise the churn risk (days since the last purchase, complaints handled badly), -1 when it
    can only lower it, 0 when the data decide (frequency: a frequent buyer gone quiet is more
    likely lost than an occasional one). The trees are held to it."""

    name: str
    group: str
    compute: Callable[[pd.DataFrame], np.ndarray]
    risk: int = 0


def _tier_rank(tier: pd.Series) -> np.ndarray:
    """standard (or unknown) 0, silver 1, gold 2."""
    values = tier.to_numpy(dtype=object)
    return np.select([values == "gold", values == "silver"], [2.0, 1.0], 0.0)


MODEL_FEATURES: tuple[ModelFeature, ...] = (
    ModelFeature("log_recency_days", "recency", _log("recency_days"), risk=1),
    # How overdue the next purchase is relative to the customer's own rhythm (0: one purchase
    # day, no rhythm yet; repeat_buyer tells the two apart).
    ModelFeature(
        "log_recency_gap_ratio",
        "recency",
        lambda f: np.log1p(np.clip(_number(f, "recency_gap_ratio"), 0, 50)),
        risk=1,
    ),
    ModelFeature("log_purchases", "frequency", _log("purchases")),
    ModelFeature("repeat_buyer", "frequency", lambda f: (_number(f, "purchases") > 1) * 1.0),
    ModelFeature("log_mean_gap_days", "frequency", _log("mean_gap_days")),
    ModelFeature("log_last_gap_days", "frequency", _log("last_gap_days")),
    ModelFeature("log_purchases_last_90d", "trend", _log("purchases_last_90d")),
    ModelFeature("log_purchases_prior_90d", "trend", _log("purchases_prior_90d")),
    ModelFeature("log_spend_last_90d", "trend", _log("spend_last_90d")),
    ModelFeature("log_spend_prior_90d", "trend", _log("spend_prior_90d")),
    ModelFeature(
        "spend_change", "trend", lambda f: np.clip(_number(f, "spend_change_ratio"), -1, 3)
    ),
    ModelFeature("log_net_revenue", "value", _log("net_revenue")),
    ModelFeature("log_avg_order_value", "value", _log("avg_order_value")),
    ModelFeature("log_trailing_12m_spend", "value", _log("trailing_12m_spend")),
    ModelFeature(
        "tier_rank",
        "value",
        lambda f: _tier_rank(f["membership_tier"]),
    ),
    ModelFeature("categories", "breadth", _plain("categories")),
    ModelFeature("refunds", "refunds", _plain("refunds")),
    ModelFeature("refund_share", "refunds", _plain("refund_share")),
    ModelFeature("complaints", "complaints", _plain("complaints"), risk=1),
    ModelFeature("complaints_last_90d", "complaints", _plain("complaints_last_90d"), risk=1),
    ModelFeature("unresolved_complaints", "complaints", _plain("unresolved_complaints"), risk=1),
    ModelFeature("late_reply_complaints", "handling", _plain("late_reply_complaints"), risk=1),
    ModelFeature(
        "uncompensated_serious_complaints",
        "handling",
        _plain("uncompensated_serious_complaints"),
        risk=1,
    ),
    ModelFeature(
        "badly_handled_complaints", "handling", _plain("badly_handled_complaints"), risk=1
    ),
    ModelFeature("log_avg_resolution_hours", "handling", _log("avg_resolution_hours"), risk=1),
    ModelFeature("log_compensation_amount", "handling", _log("compensation_amount")),
    # Points below a satisfied answer (CSAT 4 of 5, NPS 7 of 10); no answer: no shortfall.
    ModelFeature(
        "csat_shortfall",
        "satisfaction",
        lambda f: np.clip(4 - _number(f, "last_csat", 4), 0, 3),
        risk=1,
    ),
    ModelFeature(
        "nps_shortfall",
        "satisfaction",
        lambda f: np.clip(7 - _number(f, "last_nps", 7), 0, 7),
        risk=1,
    ),
    ModelFeature("log_posts", "sentiment", _log("posts")),
    ModelFeature("negative_posts", "sentiment", _plain("negative_posts"), risk=1),
    ModelFeature("avg_sentiment_score", "sentiment", _plain("avg_sentiment_score"), risk=-1),
    ModelFeature("log_tenure_days", "tenure", _log("tenure_days")),
    ModelFeature(
        "is_business", "account", lambda f: (f["customer_type"] == "business").fillna(False) * 1.0
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in MODEL_FEATURES)
FEATURE_RISK: dict[str, int] = {f.name: f.risk for f in MODEL_FEATURES}
REASON_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in MODEL_FEATURES))
RECENCY_FEATURE = "log_recency_days"


def model_matrix(snapshots: pd.DataFrame, features: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    """The model's float matrix (one row per snapshot row, one column per feature name)."""
    by_name = {f.name: f for f in MODEL_FEATURES}
    unknown = [name for name in features if name not in by_name]
    if unknown:
        raise ValueError(f"unknown churn model features: {', '.join(unknown)}")
    matrix = np.empty((len(snapshots), len(features)), dtype=float)
    for i, name in enumerate(features):
        matrix[:, i] = by_name[name].compute(snapshots)
    return matrix


def group_columns(features: tuple[str, ...]) -> dict[str, list[int]]:
    """For each reason group, the positions of its features in ``features``."""
    group_of = {f.name: f.group for f in MODEL_FEATURES}
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(features):
        groups.setdefault(group_of[name], []).append(i)
    return groups
