"""Campaign lift: treatment against control of every audience, 30, 60 and 90 days later.

An *assignment* puts a customer into an audience's treatment group (contacted) or control group
(held out at random) on a day. Assignments come from past campaigns imported from other tools
(the `campaigns` source) and from Weixi's own audience history (new entries). Only a
customer's first assignment to an audience counts: the holdout is stable per audience and
customer, so later entries are in the same group, and counting them again would weigh the
customers who keep coming back and make the observations dependent.

Outcomes follow each assignment over the days 1 .. ``window_days`` after it, from purchases
(orders that were not cancelled, at their net revenue after refunds):

- ``repurchase_rate``: share of customers with at least one purchase in the window;
- ``revenue_per_customer``: net revenue in the window per assigned customer (0 for those who
  bought nothing), each customer's revenue capped at the 95th percentile of the audience's
  customers in that window (``value_cap``). A few business orders are worth a hundred
  ordinary ones, and with control groups of a few dozen customers such outliers decide the
  uncapped difference and make its interval too narrow: on the demo's campaigns a 95% Welch
  interval of uncapped revenue covered a true zero effect only 86-87% of the time, capped at
  the 95th percentile 93-94%. The cap is the same for both groups, so the comparison stays
  fair; the values understate revenue by the part above the cap;
- ``churn_rate``: share of customers who are *churned* at the window's end in the sense of the
  lifecycle stage: no purchase in the ``churned_after_days`` days up to and including it.

An assignment counts for a window only once the window has ended by the reference date (the
last day with orders): a window still running would understate every metric.

Nine tests per audience (three metrics by three windows) would find a "significant" lift in
about a third of the campaigns that do nothing. So each audience has one *primary* metric and
window, declared in ``audiences.yml`` (``DEFAULT_PRIMARY`` for imported campaigns whose
audience has no definition): its test alone decides the ``verdict``, at its raw p-value. The
other eight are *secondary*: their p-values are Holm-adjusted within the audience. Rows with no
control group, no finished window or too few customers for a test have that ``status`` and
neither a verdict nor an adjusted p-value (docs/lift.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from activation.holdout import CONTROL, TREATMENT
from activation.lift_statistics import (
    CONFIDENCE,
    holm_adjusted,
    mean_difference,
    proportion_difference,
)
from warehouse.table_spec import SpecColumn, TableSpec

WINDOWS = (30, 60, 90)
RATE_METRICS = {"repurchase_rate": "repurchased", "churn_rate": "churned"}
MEAN_METRICS = {"revenue_per_customer": "revenue"}
METRICS = ("repurchase_rate", "revenue_per_customer", "churn_rate")
CI_METHODS = {
    "repurchase_rate": "newcombe_wilson",
    "churn_rate": "newcombe_wilson",
    "revenue_per_customer": "welch_t",
}
LOWER_IS_BETTER = frozenset({"churn_rate"})
DEFAULT_PRIMARY = ("repurchase_rate", 30)
"""The primary metric and window of an audience with no definition (an imported campaign under
a name of its own): whether the contacted customers buy again within a month is what most
campaigns are for, and the 30-day window is the first to be complete."""
SIGNIFICANCE = 0.05
PRIMARY, SECONDARY = "primary", "secondary"
NO_CONTROL, WINDOW_INCOMPLETE, TOO_FEW = "no_control", "window_incomplete", "too_few"
STATUSES = (PRIMARY, SECONDARY, NO_CONTROL, WINDOW_INCOMPLETE, TOO_FEW)
WORKS, HARMS, NO_EVIDENCE = "works", "harms", "no_evidence"
VERDICTS = (WORKS, HARMS, NO_EVIDENCE)
REVENUE_CAP_QUANTILE = 0.95
"""Each customer's window revenue is capped at this quantile of the audience's customers (both
groups) before the means are compared: see the module docstring."""
ASSIGNMENT_COLUMNS = ("audience", "customer_id", "assigned_on", "holdout_group", "source")
PURCHASE_COLUMNS = ("customer_id", "order_date", "revenue")

CAMPAIGN_LIFT = TableSpec(
    name="marts.campaign_lift",
    description="Which strategy works: for every audience, repurchase rate, revenue per "
    "customer and churn of the contacted customers against their random control group 30, 60 "
    "and 90 days after assignment, with 95% confidence intervals; one primary metric and "
    "window per audience decides its verdict, the others are Holm-adjusted (see docs/lift.md).",
    grain="One row per audience, window and metric",
    key=("audience", "window_days", "metric"),
    columns=(
        SpecColumn(
            "reference_date",
            "date",
            "The day the marts are computed as of (the last day with orders).",
        ),
        SpecColumn("audience", "string", "The audience (imported campaign or Weixi's own)."),
        SpecColumn("window_days", "int64", "Days after the assignment: 30, 60 or 90."),
        SpecColumn(
            "metric", "string", "`repurchase_rate`, `revenue_per_customer` or `churn_rate`."
        ),
        SpecColumn("assignments_from", "date", "First assignment day counted."),
        SpecColumn("assignments_to", "date", "Last assignment day counted."),
        SpecColumn("treatment_customers", "int64", "Contacted customers counted."),
        SpecColumn("control_customers", "int64", "Held-out customers counted."),
        SpecColumn("treatment_value", "float64", "The metric in the treatment group."),
        SpecColumn("control_value", "float64", "The metric in the control group."),
        SpecColumn(
            "absolute_lift",
            "float64",
            "Treatment minus control (rates: a share; revenue: CNY per customer).",
        ),
        SpecColumn("ci_low", "float64", "Lower end of the confidence interval of the lift."),
        SpecColumn("ci_high", "float64", "Upper end of the confidence interval of the lift."),
        SpecColumn(
            "relative_lift",
            "float64",
            "`absolute_lift / control_value` (null when the control value is 0).",
        ),
        SpecColumn("p_value", "float64", 'Two-sided p-value of "no difference".'),
        SpecColumn("confidence_level", "float64", "The interval's confidence level (0.95)."),
        SpecColumn("ci_method", "string", "`newcombe_wilson` (rates) or `welch_t` (revenue)."),
        SpecColumn(
            "value_cap",
            "float64",
            "Revenue only: the cap on each customer's window revenue (the audience's 95th "
            "percentile).",
        ),
        SpecColumn(
            "pending_assignments",
            "int64",
            "Assignments whose window has not ended yet: not counted.",
        ),
        SpecColumn(
            "window_complete",
            "bool",
            "True when no assignment is pending: the figures of the row are final.",
        ),
        SpecColumn(
            "is_primary",
            "bool",
            "True on the audience's primary metric and window (`audiences.yml`; "
            "`repurchase_rate` at 30 days for an audience with no definition).",
        ),
        SpecColumn(
            "status",
            "string",
            "`primary` or `secondary` when the row is tested; `window_incomplete` when no "
            "assignment's window has ended yet, `no_control` when there is no control "
            "customer, `too_few` when a group is too small for the test: those rows are left "
            "out of verdicts and adjustments.",
        ),
        SpecColumn(
            "adjusted_p_value",
            "float64",
            "Primary row: the raw `p_value` (one test, no adjustment); secondary rows: Holm-"
            "adjusted over the audience's secondary rows; null on untested rows.",
        ),
        SpecColumn(
            "verdict",
            "string",
            "Primary row with status `primary` only: `works` (p < 0.05, better than control), "
            "`harms` (p < 0.05, worse; for churn, higher) or `no_evidence`; null elsewhere.",
        ),
    ),
)


def first_assignments(assignments: pd.DataFrame) -> pd.DataFrame:
    """One row per audience and customer: their first assignment (ties: the imported one)."""
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in assignments.columns]
    if missing:
        raise KeyError(f"assignments lack the columns {', '.join(missing)}")
    unknown = set(assignments["holdout_group"]) - {TREATMENT, CONTROL}
    if unknown:
        raise ValueError(f"holdout_group must be treatment or control, got {sorted(unknown)}")
    ordered = assignments.assign(assigned_on=pd.to_datetime(assignments["assigned_on"]))
    ordered = ordered.sort_values(["assigned_on", "source", "customer_id"], kind="stable")
    return ordered.drop_duplicates(["audience", "customer_id"]).reset_index(drop=True)[
        list(ASSIGNMENT_COLUMNS)
    ]


def assignment_outcomes(
    assignments: pd.DataFrame,
    purchases: pd.DataFrame,
    window_days: int,
    churned_after_days: int,
) -> pd.DataFrame:
    """``assignments`` with ``repurchased``, ``revenue`` and ``churned`` over the
    ``window_days`` after each assignment (see the module docstring), from ``purchases``
    (customer_id, order_date, revenue)."""
    left = assignments[["customer_id", "assigned_on"]].reset_index()
    left["assigned_on"] = pd.to_datetime(left["assigned_on"])
    right = purchases[list(PURCHASE_COLUMNS)].assign(
        order_date=lambda f: pd.to_datetime(f["order_date"])
    )
    joined = left.merge(right, on="customer_id", how="inner")
    offset = (joined["order_date"] - joined["assigned_on"]).dt.days
    inside = (offset >= 1) & (offset <= window_days)
    # Active at the window's end: a purchase in the churned_after_days up to and including it.
    active = (offset >= window_days - churned_after_days) & (offset <= window_days)
    per_assignment = (
        joined.assign(
            repurchased=inside,
            revenue=joined["revenue"].astype(float).where(inside, 0.0),
            active=active,
        )
        .groupby("index")
        .agg(
            repurchased=("repurchased", "any"), revenue=("revenue", "sum"), active=("active", "any")
        )
        .reindex(assignments.index)
    )
    out = assignments.copy()
    out["repurchased"] = per_assignment["repurchased"].fillna(False).astype(bool)
    out["revenue"] = per_assignment["revenue"].fillna(0.0).astype(float)
    out["churned"] = ~per_assignment["active"].fillna(False).astype(bool)
    return out


def campaign_lift(
    assignments: pd.DataFrame,
    purchases: pd.DataFrame,
    reference_date: date,
    churned_after_days: int,
    primaries: Mapping[str, tuple[str, int]] | None = None,
    windows: tuple[int, ...] = WINDOWS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """One row per audience, window and metric: treatment and control values, the absolute
    lift (treatment minus control) with its confidence interval and p-value, and the relative
    lift, over the first assignments whose window ended by ``reference_date``; each row's
    status, adjusted p-value and, on the primary row, the verdict (:func:`judge`).

    ``assignments`` has audience, customer_id, assigned_on, holdout_group (treatment or
    control) and source; ``purchases`` customer_id, order_date and revenue (net);
    ``primaries`` maps an audience to its primary (metric, window_days)."""
    if assignments.empty:
        return CAMPAIGN_LIFT.empty_frame()
    first = first_assignments(assignments)
    reference = pd.Timestamp(reference_date)
    rows = []
    for window_days in windows:
        ended = first["assigned_on"] + timedelta(days=window_days) <= reference
        outcomes = assignment_outcomes(first[ended], purchases, window_days, churned_after_days)
        for audience in sorted(first["audience"].unique()):
            done = outcomes[outcomes["audience"] == audience]
            pending = int((~ended & (first["audience"] == audience)).sum())
            base = {
                "reference_date": reference_date,
                "audience": audience,
                "window_days": window_days,
                "assignments_from": done["assigned_on"].min() if len(done) else None,
                "assignments_to": done["assigned_on"].max() if len(done) else None,
                "confidence_level": confidence,
                "pending_assignments": pending,
                "window_complete": pending == 0,
            }
            rows += [{**base, **row} for row in _compare(done, confidence)]
    return judge(pd.DataFrame(rows), primaries or {})[list(CAMPAIGN_LIFT.column_names)]


def row_status(lift: pd.DataFrame) -> pd.Series:
    """Per row of a lift table: ``window_incomplete`` (no customer counted: no assignment's
    window has ended), ``no_control``, ``too_few`` (no p-value: a group too small for the
    test) or ``None`` for a row that can be tested."""
    counted = lift["treatment_customers"] + lift["control_customers"]
    status = pd.Series(None, index=lift.index, dtype=object)
    status[lift["p_value"].isna()] = TOO_FEW
    status[lift["control_customers"] == 0] = NO_CONTROL
    status[counted == 0] = WINDOW_INCOMPLETE
    return status


def judge(
    lift: pd.DataFrame,
    primaries: Mapping[str, tuple[str, int]],
    alpha: float = SIGNIFICANCE,
) -> pd.DataFrame:
    """``lift`` with ``is_primary``, ``status``, ``adjusted_p_value`` and ``verdict`` (see
    ``CAMPAIGN_LIFT``): the primary row of each audience (``primaries``, else
    ``DEFAULT_PRIMARY``) is judged on its raw p-value, the audience's other tested rows are
    Holm-adjusted together, untested rows get neither."""
    primary = lift["audience"].map(lambda a: primaries.get(a, DEFAULT_PRIMARY))
    is_primary = (lift["metric"] == primary.str[0]) & (lift["window_days"] == primary.str[1])
    untested = row_status(lift)
    status = untested.where(untested.notna(), np.where(is_primary, PRIMARY, SECONDARY))
    adjusted = lift["p_value"].where(status == PRIMARY)
    for _, rows in lift[status == SECONDARY].groupby("audience"):
        adjusted[rows.index] = holm_adjusted(rows["p_value"].to_numpy())
    better = np.where(
        lift["metric"].isin(LOWER_IS_BETTER), lift["absolute_lift"] < 0, lift["absolute_lift"] > 0
    )
    verdict = np.where(lift["p_value"] < alpha, np.where(better, WORKS, HARMS), NO_EVIDENCE)
    return lift.assign(
        is_primary=is_primary.astype(bool),
        status=status,
        adjusted_p_value=adjusted.astype(float),
        verdict=pd.Series(verdict, index=lift.index).where(status == PRIMARY),
    )


def _compare(outcomes: pd.DataFrame, confidence: float) -> list[dict[str, object]]:
    """Treatment against control of one audience and window, one dict per metric."""
    treated = outcomes[outcomes["holdout_group"] == TREATMENT]
    control = outcomes[outcomes["holdout_group"] == CONTROL]
    rows = []
    for metric in METRICS:
        column = RATE_METRICS.get(metric) or MEAN_METRICS[metric]
        t, c = treated[column].astype(float), control[column].astype(float)
        cap = np.nan
        if metric in RATE_METRICS:
            result = proportion_difference(t.sum(), len(t), c.sum(), len(c), confidence)
        else:
            if len(t) and len(c):
                cap = float(np.quantile(np.r_[t, c], REVENUE_CAP_QUANTILE))
                t, c = t.clip(upper=cap), c.clip(upper=cap)
            result = mean_difference(
                t.mean(), t.var(ddof=1), len(t), c.mean(), c.var(ddof=1), len(c), confidence
            )
        t_value = t.mean() if len(t) else np.nan
        c_value = c.mean() if len(c) else np.nan
        rows.append(
            {
                "metric": metric,
                "treatment_customers": len(t),
                "control_customers": len(c),
                "treatment_value": t_value,
                "control_value": c_value,
                "absolute_lift": t_value - c_value,
                "ci_low": result.low,
                "ci_high": result.high,
                "relative_lift": (t_value - c_value) / c_value if c_value else np.nan,
                "p_value": result.p_value,
                "ci_method": CI_METHODS[metric],
                "value_cap": cap,
            }
        )
    return rows
