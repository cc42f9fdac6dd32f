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
from datetime import date
from typing import Any

import duckdb
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


def campaign_lift(
    assignments: pd.DataFrame,
    purchases: pd.DataFrame,
    reference_date: date,
    churned_after_days: int,
    primaries: Mapping[str, tuple[str, int]] | None = None,
    windows: tuple[int, ...] = WINDOWS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """:func:`campaign_lift_in` over frames: ``assignments`` has audience, customer_id,
    assigned_on, holdout_group (treatment or control) and source; ``purchases`` customer_id,
    order_date and revenue (net)."""
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in assignments.columns]
    if missing:
        raise KeyError(f"assignments lack the columns {', '.join(missing)}")
    con = duckdb.connect()
    try:
        con.register("assignments", assignments[list(ASSIGNMENT_COLUMNS)])
        con.register("purchases", purchases[list(PURCHASE_COLUMNS)])
        return campaign_lift_in(
            con,
            "assignments",
            "purchases",
            reference_date,
            churned_after_days,
            primaries,
            windows,
            confidence,
        )
    finally:
        con.close()


def campaign_lift_in(
    con: duckdb.DuckDBPyConnection,
    assignments: str,
    purchases: str,
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

    ``assignments`` and ``purchases`` name relations on ``con`` (a table or a parenthesised
    query) with :data:`ASSIGNMENT_COLUMNS` and :data:`PURCHASE_COLUMNS`; ``primaries`` maps an
    audience to its primary (metric, window_days). The outcomes are aggregated in DuckDB down
    to one row per audience and window, so only the statistics run in Python."""
    unknown = con.execute(
        f"select distinct holdout_group from {assignments} "
        "where holdout_group is null or holdout_group not in ($treatment, $control)",
        {"treatment": TREATMENT, "control": CONTROL},
    ).fetchall()
    if unknown:
        raise ValueError(
            f"holdout_group must be treatment or control, got {sorted(map(str, unknown))}"
        )
    groups = con.execute(
        LIFT_GROUPS_SQL.format(assignments=assignments, purchases=purchases, measures=_MEASURES),
        {
            "reference": reference_date,
            "churned_after_days": churned_after_days,
            "windows": list(windows),
            "cap_quantile": REVENUE_CAP_QUANTILE,
            "treatment": TREATMENT,
            "control": CONTROL,
        },
    ).df()
    if groups.empty:
        return CAMPAIGN_LIFT.empty_frame()
    groups = groups.sort_values(["window_days", "audience"], key=_text_order)
    rows = []
    for group in groups.itertuples(index=False):
        base = {
            "reference_date": reference_date,
            "audience": group.audience,
            "window_days": int(group.window_days),
            "assignments_from": group.assignments_from,
            "assignments_to": group.assignments_to,
            "confidence_level": confidence,
            "pending_assignments": int(group.pending),
            "window_complete": int(group.pending) == 0,
        }
        rows += [{**base, **row} for row in _compare(group, confidence)]
    return judge(pd.DataFrame(rows), primaries or {})[list(CAMPAIGN_LIFT.column_names)]


def _text_order(column: pd.Series) -> pd.Series:
    return column.astype(object) if column.name == "audience" else column


GROUP_PREFIXES = {"t": TREATMENT, "c": CONTROL}
_MEASURES = ",\n        ".join(
    measure
    for prefix, group in GROUP_PREFIXES.items()
    for measure in (
        f"count(*) filter (where holdout_group = '{group}') as {prefix}_n",
        *(
            f"count(*) filter (where holdout_group = '{group}' and {flag}) as {prefix}_{flag}"
            for flag in RATE_METRICS.values()
        ),
        *(
            f"{function}(capped) filter (where holdout_group = '{group}') "
            f"as {prefix}_{column}_{name}"
            for column in MEAN_METRICS.values()
            for function, name in (("avg", "mean"), ("var_samp", "var"))
        ),
    )
)
LIFT_GROUPS_SQL = """
with assignments as (
    select audience, customer_id, cast(assigned_on as date) as assigned_on, holdout_group, source
    from {assignments}
),
purchases as (
    select customer_id, cast(order_date as date) as order_date, cast(revenue as double) as revenue
    from {purchases}
),
-- Only a customer's first assignment to an audience counts (ties: the imported one).
first_assignments as (
    select * from assignments
    qualify row_number() over (
        partition by audience, customer_id order by assigned_on, source
    ) = 1
),
windows as (select unnest(cast($windows as integer[])) as window_days),
assigned as (
    select f.*, w.window_days, f.assigned_on + w.window_days <= $reference as ended
    from first_assignments as f cross join windows as w
),
-- Per ended assignment: purchases on days 1 .. window_days after it, and whether it was
-- active (a purchase in the churned_after_days up to and including the window's end).
outcomes as (
    select
        a.audience,
        a.window_days,
        a.holdout_group,
        a.customer_id,
        coalesce(bool_or(p.order_date - a.assigned_on >= 1), false) as repurchased,
        coalesce(sum(p.revenue) filter (where p.order_date - a.assigned_on >= 1), 0.0)
            as revenue,
        not coalesce(
            bool_or(p.order_date - a.assigned_on >= a.window_days - $churned_after_days), false
        ) as churned
    from assigned as a
    left join purchases as p
        on p.customer_id = a.customer_id
        and p.order_date <= a.assigned_on + a.window_days
        and p.order_date >= a.assigned_on + least(1, a.window_days - $churned_after_days)
    where a.ended
    group by all
),
-- Each customer's window revenue capped at the audience's quantile when both groups exist.
caps as (
    select
        audience,
        window_days,
        case
            when bool_or(holdout_group = $treatment) and bool_or(holdout_group = $control)
            then quantile_cont(revenue, $cap_quantile)
        end as value_cap
    from outcomes
    group by all
),
capped as (
    select o.*, c.value_cap, coalesce(least(o.revenue, c.value_cap), o.revenue) as capped
    from outcomes as o join caps as c using (audience, window_days)
),
measured as (
    select
        audience,
        window_days,
        any_value(value_cap) as value_cap,
        {measures}
    from capped
    group by all
),
spans as (
    select
        audience,
        window_days,
        count(*) filter (where not ended) as pending,
        min(assigned_on) filter (where ended) as assignments_from,
        max(assigned_on) filter (where ended) as assignments_to
    from assigned
    group by all
)
select * from spans left join measured using (audience, window_days)
"""
"""One row per audience and window: pending assignments, the span of the counted ones, the
revenue cap and, per group (``t_``, ``c_``), customers, repurchases, churns and the mean and
sample variance of the capped revenue."""


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


def _compare(group: Any, confidence: float) -> list[dict[str, object]]:
    """Treatment against control of one audience and window (a row of ``LIFT_GROUPS_SQL``),
    one dict per metric."""
    sizes = {g: _count(getattr(group, f"{g}_n")) for g in GROUP_PREFIXES}
    t_n, c_n = sizes["t"], sizes["c"]
    rows = []
    for metric in METRICS:
        column = RATE_METRICS.get(metric) or MEAN_METRICS[metric]
        cap = np.nan
        if metric in RATE_METRICS:
            t_hits, c_hits = (_count(getattr(group, f"{g}_{column}")) for g in GROUP_PREFIXES)
            result = proportion_difference(t_hits, t_n, c_hits, c_n, confidence)
            t_value = t_hits / t_n if t_n else np.nan
            c_value = c_hits / c_n if c_n else np.nan
        else:
            if t_n and c_n:
                cap = float(group.value_cap)
            t_value, c_value = (
                _value(getattr(group, f"{g}_{column}_mean")) for g in GROUP_PREFIXES
            )
            t_var, c_var = (_value(getattr(group, f"{g}_{column}_var")) for g in GROUP_PREFIXES)
            result = mean_difference(t_value, t_var, t_n, c_value, c_var, c_n, confidence)
        rows.append(
            {
                "metric": metric,
                "treatment_customers": t_n,
                "control_customers": c_n,
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


def _count(value: object) -> int:
    return 0 if pd.isna(value) else int(value)


def _value(value: object) -> float:
    return np.nan if pd.isna(value) else float(value)
