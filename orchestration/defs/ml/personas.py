"""Personas: buyers clustered by shopping style (price-sensitive, quality-seeking, ...)."""

from datetime import date

import dagster as dg
import pandas as pd

from ml import personas, registry
from ml.history import NotEnoughHistory
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, Validation, left_empty, publish
from orchestration.defs.ml.model_validation import Figure
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models
from warehouse.model_outputs import CUSTOMER_PERSONAS, PERSONA_PROFILES

UPSTREAM = [
    ["marts", "fct_orders"],
    ["marts", "fct_order_lines"],
    ["intermediate", "int_reference_date__selected"],
]
# Per customer, the totals of their purchases (cancelled orders and unmatched guests excluded;
# refunded orders count, as everywhere) that ml.personas turns into style features.
TOTALS_SQL = """
with

purchases as (
    select * from marts.fct_orders
    where is_purchase and customer_id is not null and order_date <= $as_of
),

order_lines as (
    select purchases.customer_id, fct_order_lines.*
    from marts.fct_order_lines
    inner join purchases on purchases.order_id = fct_order_lines.order_id
),

line_totals as (
    select
        customer_id,
        count(*) as lines,
        count(*) filter (where line_discount_amount > 0) as discounted_lines,
        sum(quantity * unit_price) as gross_amount,
        sum(line_discount_amount) as line_discount_amount,
        sum(line_amount) as line_amount,
        coalesce(sum(line_amount) filter (where price_band = 'premium'), 0) as premium_amount,
        coalesce(sum(line_amount) filter (where price_band = 'budget'), 0) as budget_amount,
        count(distinct category) as categories
    from order_lines
    group by all
),

order_totals as (
    select
        customer_id,
        min(order_date) as first_order_date,
        count(*) as orders,
        sum(net_revenue) as net_revenue,
        sum(discount_amount) as order_discount_amount
    from purchases
    group by all
)

select
    order_totals.customer_id,
    order_totals.first_order_date,
    order_totals.orders,
    cast(order_totals.net_revenue as double) as net_revenue,
    coalesce(line_totals.lines, 0) as lines,
    coalesce(line_totals.discounted_lines, 0) as discounted_lines,
    cast(coalesce(line_totals.gross_amount, 0) as double) as gross_amount,
    cast(
        coalesce(line_totals.line_discount_amount, 0) + order_totals.order_discount_amount
        as double
    ) as discount_amount,
    cast(coalesce(line_totals.line_amount, 0) as double) as line_amount,
    cast(coalesce(line_totals.premium_amount, 0) as double) as premium_amount,
    cast(coalesce(line_totals.budget_amount, 0) as double) as budget_amount,
    coalesce(line_totals.categories, 0) as categories
from order_totals
left join line_totals on line_totals.customer_id = order_totals.customer_id
order by order_totals.customer_id
"""


def purchase_totals(warehouse: EngineWarehouse, as_of: date) -> pd.DataFrame:
    """One row per buyer with the totals ``ml.personas.persona_features`` needs."""
    return warehouse.read_frame(TOTALS_SQL, {"as_of": as_of})


def _figures(model: personas.PersonaModel, stability: float, shares: pd.Series) -> list[Figure]:
    figures = [
        Figure("clusters", model.k),
        Figure("silhouette", model.silhouettes[model.k]),
        Figure("stability_ari", stability),
    ]
    figures += [Figure(f"silhouette_k{k}", value) for k, value in model.silhouettes.items()]
    figures += [Figure(f"share_{name}", share) for name, share in shares.items()]
    return figures


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["marts", "customer_personas"],
            description="Each buyer's persona (how they shop: price-sensitive, quality-seeking, "
            "...), with the style features it was read from and how clearly it fits.",
            deps=[dg.AssetKey(key) for key in UPSTREAM],
            group_name="ml",
            kinds={"python", "scikit-learn", "duckdb"},
        ),
        dg.AssetSpec(
            ["marts", "persona_profiles"],
            description="One row per persona: its size and average shopping style, in words.",
            deps=[dg.AssetKey(key) for key in UPSTREAM],
            group_name="ml",
            kinds={"python", "scikit-learn", "duckdb"},
        ),
    ],
    pool=WAREHOUSE_POOL,
    name="customer_personas",
)
def customer_personas(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, models: Models
):
    """Personas: buyers clustered by shopping style (re-clustered every
    ``WEIXI_RETRAIN_EVERY_DAYS`` days) and named from the cluster profiles, so marketing can
    talk to the price-sensitive and the quality-seeking differently."""
    as_of = warehouse.reference_date()
    features = personas.persona_features(purchase_totals(warehouse, as_of), as_of)
    cadence = models.cadence(personas.MODEL, as_of)
    if cadence.retrain:
        version = f"kmeans@{as_of.isoformat()}"
        try:
            model = personas.fit_personas(features)
        except NotEnoughHistory as reason:
            metadata = {"reference_date": str(as_of), "skipped": str(reason)}
            specs = [CUSTOMER_PERSONAS, PERSONA_PROFILES]
            empty = left_empty(context, specs, str(reason), metadata)
            yield from publish(warehouse, empty, multi=True)
            return
        # No comparison decides here: the latest fit is the one that knows the newest buyers.
        registry.register(models.path, personas.MODEL, model, {}, trained_on=as_of, version=version)
        registry.promote(models.path, personas.MODEL, version, f"fitted on buyers up to {as_of}")
    else:
        model, version = cadence.promoted.load(), cadence.promoted.version

    assigned = personas.assign_personas(model, features)
    customers = features.join(assigned).rename_axis("customer_id").reset_index()
    customers["reference_date"] = as_of
    customers["model_version"] = version
    profiles = personas.persona_profiles(features, assigned["persona"])
    profiles["reference_date"] = as_of
    profiles["model_version"] = version
    sizes = markdown_table(
        ["persona", "customers", "share"],
        [[p.persona, int(p.customers), f"{p.share:.1%}"] for p in profiles.itertuples()],
    )
    customer_metadata = {
        "reference_date": str(as_of),
        "model_version": version,
        "model_run": cadence.description,
        "personas": dg.MetadataValue.md(sizes),
        "preview": dg.MetadataValue.md(
            markdown_table(
                ["customer_id", "persona", "confidence"],
                [
                    [c.customer_id, c.persona, f"{c.confidence:.2f}"]
                    for c in customers.head(10).itertuples()
                ],
            )
        ),
    }
    profile_metadata = {
        "profiles": dg.MetadataValue.md("\n".join(f"- {d}" for d in profiles["description"]))
    }
    validations = []
    if cadence.retrain:
        shares = profiles.set_index("persona")["share"]
        validations.append(
            Validation(
                personas.MODEL,
                version,
                _figures(model, personas.stability(features, model), shares),
                note=f"k-means, k = {model.k} by silhouette over {list(personas.CLUSTER_COUNTS)}",
            )
        )
    yield from publish(
        warehouse,
        [
            TableOutput(CUSTOMER_PERSONAS, customers, customer_metadata),
            TableOutput(PERSONA_PROFILES, profiles, profile_metadata),
        ],
        validations,
        multi=True,
    )
