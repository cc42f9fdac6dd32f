"""The lift of every audience: treatment against its control group, 30, 60 and 90 days on."""

import dagster as dg
import duckdb
import pandas as pd

from activation.builder import AUDIENCE_HISTORY
from activation.lift import CAMPAIGN_LIFT, campaign_lift
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, left_empty, publish
from orchestration.defs.resources import WAREHOUSE_POOL, Audiences, Warehouse
from warehouse.table_spec import table_exists

MEMBERS_VIEW = "staging.stg_campaigns__members"
UPSTREAM = [
    ["marts", "fct_orders"],
    ["marts", "customer_360"],
    ["intermediate", "int_reference_date__selected"],
    ["staging", "stg_campaigns__members"],
    ["marts", "audience_members"],  # its asset keeps activation.audience_history
]


def load_assignments(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, int]:
    """Imported campaign members and Weixi's own new audience entries, restricted to the
    customers of customer_360 (so erased and unknown customers never count), and how many
    assignment rows were left out for that."""
    parts = []
    if table_exists(con, MEMBERS_VIEW):
        parts.append(
            "select audience, customer_id, assigned_on, holdout_group, 'imported' as source "
            f"from {MEMBERS_VIEW}"
        )
    if table_exists(con, AUDIENCE_HISTORY.name):
        parts.append(
            "select audience, customer_id, audience_date as assigned_on, holdout_group, "
            f"'weixi' as source from {AUDIENCE_HISTORY.name} where is_new_entry"
        )
    if not parts:
        return pd.DataFrame(columns=["audience", "customer_id", "assigned_on"]), 0
    union = " union all ".join(parts)
    frame = con.execute(
        f"""with assignments as ({union})
            select a.*, c.customer_id is not null as in_crm
            from assignments a
            left join marts.customer_360 c on c.customer_id = a.customer_id"""
    ).df()
    left_out = int((~frame["in_crm"]).sum())
    return frame[frame["in_crm"]].drop(columns="in_crm").reset_index(drop=True), left_out


def load_purchases(con: duckdb.DuckDBPyConnection, assignments: pd.DataFrame) -> pd.DataFrame:
    """Purchases (not cancelled, net revenue) of the assigned customers."""
    con.register("_assigned", assignments[["customer_id"]].drop_duplicates())
    try:
        return con.execute(
            """select customer_id, order_date, cast(net_revenue as double) as revenue
               from marts.fct_orders
               where is_purchase and customer_id in (select customer_id from _assigned)"""
        ).df()
    finally:
        con.unregister("_assigned")


def _points(value: float) -> str:
    return "" if pd.isna(value) else f"{value * 100:+.1f}"


def headline(lift: pd.DataFrame) -> str:
    """Markdown: per audience and window, repurchase-rate and revenue lift with their 95%
    intervals (rates in percentage points)."""
    rows = []
    for (audience, window), part in lift.groupby(["audience", "window_days"], sort=True):
        by_metric = part.set_index("metric")
        rate, revenue = by_metric.loc["repurchase_rate"], by_metric.loc["revenue_per_customer"]
        rows.append(
            [
                audience,
                int(window),
                f"{int(rate.treatment_customers)} / {int(rate.control_customers)}",
                f"{rate.treatment_value:.1%} vs {rate.control_value:.1%}"
                if rate.treatment_customers and rate.control_customers
                else "",
                f"{_points(rate.absolute_lift)} [{_points(rate.ci_low)}, {_points(rate.ci_high)}]",
                "" if pd.isna(rate.p_value) else f"{rate.p_value:.3f}",
                ""
                if pd.isna(revenue.absolute_lift)
                else f"{revenue.absolute_lift:+,.1f} [{revenue.ci_low:+,.1f}, "
                f"{revenue.ci_high:+,.1f}]",
                "yes" if rate.window_complete else f"{int(rate.pending_assignments)} pending",
            ]
        )
    return markdown_table(
        [
            "audience",
            "days",
            "treated / control",
            "repurchase",
            "lift, points [95% CI]",
            "p",
            "revenue per customer lift, capped at p95 [95% CI]",
            "complete",
        ],
        rows,
    )


@dg.asset(
    key=["marts", "campaign_lift"],
    group_name="activation",
    kinds={"python", "scipy", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(key) for key in UPSTREAM],
)
def campaign_lift_table(
    context: dg.AssetExecutionContext, warehouse: Warehouse, audiences: Audiences
) -> dg.MaterializeResult:
    """Which strategy works: for every audience, repurchase rate, revenue per customer and churn
    of the contacted customers against their random control group 30, 60 and 90 days after
    assignment, with 95% confidence intervals."""
    churned_after_days = audiences.churned_after_days
    reference = warehouse.reference_date()
    with warehouse.connect() as con:
        assignments, left_out = load_assignments(con)
        purchases = load_purchases(con, assignments) if len(assignments) else None
    if left_out:
        context.log.warning(
            f"{left_out:,} assignments name customers not in customer_360 (unknown or erased); "
            "left out of the lift"
        )
    metadata: dict[str, object] = {
        "reference_date": str(reference),
        "assignments_left_out": left_out,
        "churned_after_days": churned_after_days,
    }
    if assignments.empty:
        reason = "no campaign assignments yet (no imported campaigns, no audience history)"
        empty = left_empty(context, [CAMPAIGN_LIFT], reason, {"skipped": reason, **metadata})
        return publish(warehouse, empty)[0]

    lift = campaign_lift(assignments, purchases, reference, churned_after_days)
    sources = assignments.groupby("source").size().to_dict()
    context.log.info(
        f"{CAMPAIGN_LIFT.name}: {lift['audience'].nunique()} audiences, "
        f"{len(assignments):,} assignments ({sources})"
    )
    metadata |= {
        "audiences": int(lift["audience"].nunique()),
        "assignments": dg.MetadataValue.json({k: int(v) for k, v in sources.items()}),
        "lift": dg.MetadataValue.md(headline(lift)),
    }
    return publish(warehouse, [TableOutput(CAMPAIGN_LIFT, lift, metadata)])[0]
