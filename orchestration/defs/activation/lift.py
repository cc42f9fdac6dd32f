"""The lift of every audience: treatment against its control group, 30, 60 and 90 days on,
judged on the audience's primary metric and window."""

import dagster as dg
import duckdb
import pandas as pd

from activation.audience_definitions import load_definitions
from activation.builder import AUDIENCE_HISTORY
from activation.lift import (
    CAMPAIGN_LIFT,
    MEAN_METRICS,
    PRIMARY,
    SECONDARY,
    SIGNIFICANCE,
    campaign_lift_in,
)
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, left_empty, publish
from orchestration.defs.resources import WAREHOUSE_POOL, Audiences, EngineWarehouse
from warehouse.table_spec import table_exists

MEMBERS_VIEW = "staging.stg_campaigns__members"
PURCHASES = (
    "(select customer_id, order_date, net_revenue as revenue from marts.fct_orders "
    "where is_purchase)"
)
UPSTREAM = [
    ["marts", "fct_orders"],
    ["marts", "customer_360"],
    ["intermediate", "int_reference_date__selected"],
    ["staging", "stg_campaigns__members"],
    ["marts", "audience_members"],  # its asset keeps activation.audience_history
]


def assignments_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """Imported campaign members and Weixi's own new audience entries, each with ``in_crm``:
    whether the customer is in customer_360 (erased and unknown customers never count); None
    when there are neither."""
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
        return None
    return f"""(select a.*, c.customer_id is not null as in_crm
        from ({" union all ".join(parts)}) as a
        left join marts.customer_360 as c on c.customer_id = a.customer_id)"""


def _lift_text(row: pd.Series) -> str:
    """The lift with its interval: rates in percentage points, revenue in CNY."""
    if pd.isna(row.absolute_lift):
        return ""
    scale, unit = (1, " CNY") if row.metric in MEAN_METRICS else (100, " points")
    low, high = (f"{v * scale:+,.1f}" if pd.notna(v) else "?" for v in (row.ci_low, row.ci_high))
    return f"{row.absolute_lift * scale:+,.1f}{unit} [{low}, {high}]"


def _secondary_text(part: pd.DataFrame) -> str:
    """The audience's secondary tests: how many, and those significant after Holm."""
    tested = part[part["status"] == SECONDARY]
    hits = tested[tested["adjusted_p_value"] < SIGNIFICANCE]
    found = "; ".join(f"{r.metric} {r.window_days}d {_lift_text(r)}" for r in hits.itertuples())
    return f"{len(hits)} of {len(tested)}" + (f": {found}" if found else "")


def headline(lift: pd.DataFrame) -> str:
    """Markdown, one row per audience: its primary metric and window with the lift, interval,
    raw p-value and verdict (or why there is none), and its secondary tests that remain
    significant after Holm's adjustment (marked as secondary, not verdicts)."""
    rows = []
    for audience, part in lift.groupby("audience", sort=True):
        row = part[part["is_primary"]].iloc[0]
        rows.append(
            [
                audience,
                f"{row.metric}, {int(row.window_days)} days",
                f"{int(row.treatment_customers)} / {int(row.control_customers)}",
                _lift_text(row),
                "" if pd.isna(row.p_value) else f"{row.p_value:.3f}",
                row.verdict if row.status == PRIMARY else f"none ({row.status})",
                _secondary_text(part),
            ]
        )
    return markdown_table(
        [
            "audience",
            "primary metric",
            "treated / control",
            "lift [95% CI]",
            "p",
            "verdict",
            "secondary, significant after Holm (not verdicts)",
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
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, audiences: Audiences
) -> dg.MaterializeResult:
    """Which strategy works: for every audience, repurchase rate, revenue per customer and churn
    of the contacted customers against their random control group 30, 60 and 90 days after
    assignment, with 95% confidence intervals; the primary metric and window of each audience
    (audiences.yml) decides its verdict, the others are Holm-adjusted."""
    churned_after_days = audiences.churned_after_days
    reference = warehouse.reference_date()
    primaries = {
        d.name: (d.primary_metric, d.primary_window_days)
        for d in load_definitions(audiences.definitions_file)
    }
    lift, sources, left_out = CAMPAIGN_LIFT.empty_frame(), {}, 0
    with warehouse.connect() as con:
        assignments = assignments_sql(con)
        if assignments is not None:
            counts = con.execute(
                f"select source, in_crm, count(*) from {assignments} group by all"
            ).fetchall()
            sources = {s: int(n) for s, in_crm, n in counts if in_crm}
            left_out = sum(int(n) for _, in_crm, n in counts if not in_crm)
        if sources:
            lift = campaign_lift_in(
                con,
                f"(select * from {assignments} where in_crm)",
                PURCHASES,
                reference,
                churned_after_days,
                primaries,
            )
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
    if not sources:
        reason = "no campaign assignments yet (no imported campaigns, no audience history)"
        empty = left_empty(context, [CAMPAIGN_LIFT], reason, {"skipped": reason, **metadata})
        return publish(warehouse, empty)[0]

    context.log.info(
        f"{CAMPAIGN_LIFT.name}: {lift['audience'].nunique()} audiences, "
        f"{sum(sources.values()):,} assignments ({sources})"
    )
    metadata |= {
        "audiences": int(lift["audience"].nunique()),
        "assignments": dg.MetadataValue.json(dict(sorted(sources.items()))),
        "lift": dg.MetadataValue.md(headline(lift)),
        "verdicts": dg.MetadataValue.json(
            lift[lift["is_primary"]].set_index("audience")["verdict"].fillna("none").to_dict()
        ),
    }
    return publish(warehouse, [TableOutput(CAMPAIGN_LIFT, lift, metadata)])[0]
