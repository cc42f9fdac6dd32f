"""Why a customer's churn score is high, in words a marketer understands.

A reason group's contribution is how much the model's log-odds fall when the group's features
are set to the typical customer's values (the training medians): exact for the logistic
regression (coefficient x standardised deviation, summed over the group), a what-if for the
trees. One prediction per group over all rows at once, so 1M customers take seconds. The groups
that raise the score most, by more than ``MIN_CONTRIBUTION``, are phrased from the customer's
own figures ("no purchase for 214 days, 3x the usual gap").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml.churn_features import group_columns, model_matrix

if TYPE_CHECKING:
    from ml.churn import ChurnModel

TOP_REASONS = 3
# Log-odds: about 2.5 percentage points of probability around 50%. Smaller pushes are noise
# to a marketer.
MIN_CONTRIBUTION = 0.1
NO_WARNING_SIGNS = "no warning signs"


def group_contributions(model: ChurnModel, matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Reason groups and, per row and group, the rise in log-odds over typical values."""
    groups = group_columns(model.features)
    base = model.explainer.decision_function(matrix)
    contributions = np.empty((len(matrix), len(groups)))
    for g, columns in enumerate(groups.values()):
        saved = matrix[:, columns].copy()
        matrix[:, columns] = model.reference[columns]
        contributions[:, g] = base - model.explainer.decision_function(matrix)
        matrix[:, columns] = saved
    return list(groups), contributions


def _int(values: pd.Series) -> pd.Series:
    # Branches are formatted for every row and then picked: a missing value in a branch that
    # is not picked must not fail.
    finite = values.astype(float).replace([np.inf, -np.inf], np.nan).fillna(0)
    return finite.round().astype("int64").astype("string")


def _count(values: pd.Series, singular: str, plural: str | None = None) -> pd.Series:
    words = np.where(values.astype(float) == 1, singular, plural or singular + "s")
    return _int(values) + " " + words


def _amount(values: pd.Series) -> pd.Series:
    return values.astype(float).map("{:,.0f}".format).astype("string")


def _recency(rows: pd.DataFrame) -> pd.Series:
    days = rows["recency_days"]
    text = "no purchase for " + _int(days) + " days"
    ratio = rows["recency_gap_ratio"].astype(float)
    overdue = (ratio >= 1.5).fillna(False).to_numpy()
    with_gap = text + ", " + _int(ratio) + "x the usual gap"
    return text.where(~overdue, with_gap)


def _frequency(rows: pd.DataFrame) -> pd.Series:
    purchases = rows["purchases"]
    regular = (
        _count(purchases, "purchase")
        + " so far, one every "
        + _int(rows["mean_gap_days"].fillna(0))
        + " days"
    )
    return regular.where(purchases.to_numpy() > 1, "bought only once")


def _trend(rows: pd.DataFrame) -> pd.Series:
    last, prior = rows["spend_last_90d"].astype(float), rows["spend_prior_90d"].astype(float)
    down = (
        "spend down "
        + _int(100 * (1 - last / prior.where(prior > 0)))
        + "% on the previous quarter"
    )
    idle = pd.Series("nothing bought in the last 6 months", index=rows.index, dtype="string")
    recent = _count(rows["purchases_last_90d"], "purchase") + " in the last 90 days"
    return recent.where(~(last < prior).to_numpy(), down).where(
        ~((last == 0) & (prior == 0)).to_numpy(), idle
    )


def _value(rows: pd.DataFrame) -> pd.Series:
    return (
        rows["membership_tier"].astype("string")
        + " tier, spent "
        + _amount(rows["trailing_12m_spend"])
        + " in the last 12 months"
    )


def _breadth(rows: pd.DataFrame) -> pd.Series:
    return "buys from " + _count(rows["categories"], "category", "categories") + " only"


def _refunds(rows: pd.DataFrame) -> pd.Series:
    share = _int(100 * rows["refund_share"].astype(float))
    return _count(rows["refunds"], "refund") + " (" + share + "% of orders)"


def _complaints(rows: pd.DataFrame) -> pd.Series:
    unresolved = _count(rows["unresolved_complaints"], "unresolved complaint")
    recent = _count(rows["complaints_last_90d"], "complaint") + " in the last 90 days"
    total = _count(rows["complaints"], "complaint") + " so far"
    return total.where(~(rows["complaints_last_90d"] > 0).to_numpy(), recent).where(
        ~(rows["unresolved_complaints"] > 0).to_numpy(), unresolved
    )


def _handling(rows: pd.DataFrame) -> pd.Series:
    late, unpaid = rows["late_reply_complaints"], rows["uncompensated_serious_complaints"]
    late_text = _count(late, "complaint") + " answered late"
    unpaid_text = _count(unpaid, "serious complaint") + " without compensation"
    slow = (
        "complaints took "
        + _int(rows["avg_resolution_hours"].fillna(0))
        + " hours to resolve on average"
    )
    has_late, has_unpaid = (late > 0).to_numpy(), (unpaid > 0).to_numpy()
    text = slow.where(~has_unpaid, unpaid_text).where(~has_late, late_text)
    return text.where(~(has_late & has_unpaid), late_text + ", " + unpaid_text)


def _satisfaction(rows: pd.DataFrame) -> pd.Series:
    csat = "last satisfaction score " + _int(rows["last_csat"].fillna(0)) + "/5"
    nps = "last NPS answer " + _int(rows["last_nps"].fillna(0)) + "/10"
    csat_low = (rows["last_csat"] <= 3).fillna(False).to_numpy()
    nps_low = (rows["last_nps"] <= 6).fillna(False).to_numpy()
    text = nps.where(nps_low, csat).where(~csat_low, csat)
    return text.where(~(csat_low & nps_low), csat + ", " + nps)


def _sentiment(rows: pd.DataFrame) -> pd.Series:
    negative = _count(
        rows["negative_posts"], "negative post or review", "negative posts or reviews"
    )
    mood = (
        "posts with average sentiment "
        + rows["avg_sentiment_score"].astype(float).fillna(0).map("{:+.1f}".format)
    ).astype("string")
    silent = pd.Series("no posts or reviews", index=rows.index, dtype="string")
    text = mood.where((rows["posts"] > 0).to_numpy(), silent)
    return text.where(~(rows["negative_posts"] > 0).to_numpy(), negative)


def _tenure(rows: pd.DataFrame) -> pd.Series:
    days = rows["tenure_days"].astype(float)
    young = "customer for only " + _int(days) + " days"
    older = "customer for " + (days / 365.25).map("{:.1f}".format).astype("string") + " years"
    return older.where((days >= 365).to_numpy(), young)


def _account(rows: pd.DataFrame) -> pd.Series:
    return rows["customer_type"].fillna("unknown").astype("string") + " account"


PHRASES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "recency": _recency,
    "frequency": _frequency,
    "trend": _trend,
    "value": _value,
    "breadth": _breadth,
    "refunds": _refunds,
    "complaints": _complaints,
    "handling": _handling,
    "satisfaction": _satisfaction,
    "sentiment": _sentiment,
    "tenure": _tenure,
    "account": _account,
}


def explain(model: ChurnModel, snapshots: pd.DataFrame, top: int = TOP_REASONS) -> pd.DataFrame:
    """Columns ``reason_1`` .. ``reason_<top>`` for each snapshot row: the reason groups that
    raise the customer's score most, phrased from their figures. A customer with none gets
    ``no warning signs`` as reason_1 and no further reasons."""
    rows = snapshots.reset_index(drop=True)
    out = pd.DataFrame(index=rows.index)
    if rows.empty:
        for k in range(1, top + 1):
            out[f"reason_{k}"] = pd.Series(dtype="string")
        return out
    groups, contributions = group_contributions(model, model_matrix(rows, model.features))
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    for k in range(top):
        reason = pd.Series(pd.NA, index=rows.index, dtype="string")
        chosen = order[:, k]
        strong = contributions[np.arange(len(rows)), chosen] > MIN_CONTRIBUTION
        for g, group in enumerate(groups):
            where = np.flatnonzero(strong & (chosen == g))
            if len(where):
                reason.iloc[where] = PHRASES[group](rows.iloc[where]).to_numpy()
        if k == 0:
            reason = reason.fillna(NO_WARNING_SIGNS)
        out[f"reason_{k + 1}"] = reason
    return out
