"""Lifetime value of every buyer (BG/NBD + Gamma-Gamma) and their place in the value matrix."""

from datetime import date

import dagster as dg
import pandas as pd

from ml import gamma_gamma, ltv, registry
from ml.history import NotEnoughHistory
from ml.value_matrix import QUADRANTS, value_quadrants
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, Validation, left_empty, publish
from orchestration.defs.ml.model_validation import Figure
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models
from warehouse.model_outputs import CUSTOMER_VALUE

UPSTREAM = [["marts", "fct_orders"], ["intermediate", "int_reference_date__selected"]]


def purchases(warehouse: EngineWarehouse, as_of: date) -> pd.DataFrame:
    """Purchases of matched customers up to ``as_of``: refunded orders count, at their net
    revenue; cancelled orders and guest checkouts matched to no customer do not."""
    return warehouse.read_frame(
        """select customer_id, order_date, cast(net_revenue as double) as revenue
           from marts.fct_orders
           where is_purchase and customer_id is not null and order_date <= $as_of""",
        {"as_of": as_of},
    )


# Per buyer, their purchase days up to the reference date summed (several orders of a day are
# one purchase): what ml.ltv.purchase_histories computes from every transaction, summed by
# the warehouse instead of pandas grouping millions of rows by customer id.
TOTALS_SQL = """
with

purchase_days as (
    select customer_id, order_date, sum(net_revenue) as revenue
    from marts.fct_orders
    where is_purchase and customer_id is not null and order_date <= $as_of
    group by all
)

select
    customer_id,
    min(order_date) as first_purchase_date,
    max(order_date) as last_purchase_date,
    count(*) as purchases,
    cast(sum(revenue) as double) as revenue
from purchase_days
group by all
order by customer_id
"""


def purchase_totals(warehouse: EngineWarehouse, as_of: date) -> pd.DataFrame:
    """One row per buyer with the totals ``ml.ltv.histories_from_totals`` needs."""
    return warehouse.read_frame(TOTALS_SQL, {"as_of": as_of})


def _validations(
    holdout: ltv.Holdout, model: ltv.ValueModel, histories: pd.DataFrame, as_of: date
) -> list[Validation]:
    """Each figure under the model that made it: the holdout comparisons with the parameters
    of the fit calibrated up to the cut-off, and the parameters of the fit on all history (the
    one that scores ``customer_value``) under its own version."""
    holdout_version = _version(holdout.cutoff)
    tested = Validation(
        ltv.MODEL,
        holdout_version,
        [
            Figure(comparison.metric, comparison.model, baseline, value)
            for comparison in holdout.comparisons
            for baseline, value in comparison.baselines.items()
        ]
        + _fit_figures(holdout.model)
        + [Figure("holdout_days", holdout.days), Figure("holdout_customers", holdout.customers)],
        note=f"calibrated up to {holdout.cutoff}, tested on the {holdout.days} days after; "
        "the validation fit, it scores no customer",
    )
    scoring = Validation(
        ltv.MODEL,
        _version(as_of),
        _fit_figures(model)
        + [
            Figure(
                "spend_frequency_correlation",
                gamma_gamma.spend_frequency_correlation(
                    histories["purchases"], histories["mean_spend"]
                ),
            )
        ],
        note=f"fitted on all purchases up to {as_of}; scores marts.customer_value; its "
        f"holdout figures are those of {holdout_version}",
    )
    return [scoring, tested]


def _fit_figures(model: ltv.ValueModel) -> list[Figure]:
    return [Figure(f"param_{name}", value) for name, value in model.parameters().items()] + [
        Figure("converged", float(model.purchases.converged and model.spend.converged))
    ]


def _version(fitted_up_to: date) -> str:
    return f"bgnbd-gamma-gamma@{fitted_up_to.isoformat()}"


def _holdout_table(holdout: ltv.Holdout) -> str:
    rows = [
        [c.metric, f"{c.model:.3f}", baseline, f"{value:.3f}"]
        for c in holdout.comparisons
        for baseline, value in c.baselines.items()
    ]
    return markdown_table(["metric", "model", "baseline", "baseline value"], rows)


def _quadrant_table(scored: pd.DataFrame) -> str:
    rows = []
    for quadrant in QUADRANTS:
        part = scored[scored["value_quadrant"] == quadrant]
        rows.append(
            [
                quadrant,
                len(part),
                f"{len(part) / len(scored):.1%}",
                f"{part['current_value'].sum() / scored['current_value'].sum():.1%}",
                f"{part['clv_12m'].sum() / scored['clv_12m'].sum():.1%}",
            ]
        )
    return markdown_table(
        ["quadrant", "customers", "share", "revenue so far", "predicted value"], rows
    )


@dg.asset(
    key=["marts", "customer_value"],
    group_name="ml",
    kinds={"python", "scipy", "duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(key) for key in UPSTREAM],
)
def customer_value(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, models: Models
) -> dg.MaterializeResult:
    """What each buyer is worth: P(alive), expected purchases and value over the next 12 months
    (BG/NBD + Gamma-Gamma, discounted) and the value-matrix quadrant, scored every night with a
    model refitted and validated on a holdout every ``WEIXI_RETRAIN_EVERY_DAYS`` days."""
    as_of = warehouse.reference_date()
    histories = ltv.histories_from_totals(purchase_totals(warehouse, as_of), as_of)
    cadence = models.cadence(ltv.MODEL, as_of)
    metadata: dict[str, object] = {"reference_date": str(as_of), "model_run": cadence.description}
    validations: list[Validation] = []
    if cadence.retrain:
        horizon_days = round(models.ltv_horizon_months * ltv.DAYS_PER_MONTH)
        try:
            # Only the holdout test needs every transaction: it splits them at its cut-off.
            holdout = ltv.holdout_test(
                purchases(warehouse, as_of),
                as_of,
                ltv.holdout_days(histories, as_of, horizon_days),
            )
            ltv.check_customers(histories, "in the whole history")
            model = ltv.fit_value_model(histories)
        except NotEnoughHistory as reason:
            metadata["skipped"] = str(reason)
            empty = left_empty(context, [CUSTOMER_VALUE], str(reason), metadata)
            return publish(warehouse, empty)[0]
        version = _version(as_of)
        # No comparison decides here: the latest fit is the one that knows the newest buyers.
        registry.register(models.path, ltv.MODEL, model, {}, trained_on=as_of, version=version)
        registry.promote(models.path, ltv.MODEL, version, f"fitted on all purchases up to {as_of}")
        validations = _validations(holdout, model, histories, as_of)
        metadata["holdout"] = dg.MetadataValue.md(
            f"Calibrated up to {holdout.cutoff}; {holdout.customers:,} customers tested on "
            f"the {holdout.days} days after.\n\n{_holdout_table(holdout)}"
        )
    else:
        model, version = cadence.promoted.load(), cadence.promoted.version

    scored = _scored(model, histories, as_of, version, models)
    top = scored.nlargest(10, "clv_12m")[
        ["customer_id", "value_quadrant", "p_alive", "expected_purchases_ltv_horizon", "clv_12m"]
    ]
    metadata |= {
        "model_version": version,
        "parameters": dg.MetadataValue.json(model.parameters()),
        "value_matrix": dg.MetadataValue.md(_quadrant_table(scored)),
        "total_clv_12m": float(scored["clv_12m"].sum()),
        "preview": dg.MetadataValue.md(
            markdown_table(
                list(top.columns),
                [[f"{v:.3f}" if isinstance(v, float) else v for v in r] for r in top.values],
            )
        ),
    }
    (result,) = publish(warehouse, [TableOutput(CUSTOMER_VALUE, scored, metadata)], validations)
    return result


def _scored(
    model: ltv.ValueModel, histories: pd.DataFrame, as_of: date, version: str, models: Models
) -> pd.DataFrame:
    """The mart rows: each buyer's history in BG/NBD terms, their predicted value and quadrant."""
    scores = ltv.score_customers(
        model,
        histories,
        models.ltv_horizon_months,
        models.ltv_annual_discount_rate,
        models.churn_horizon_days,
    )
    scored = histories.join(scores).rename(
        columns={
            "frequency": "repeat_purchases",
            "recency": "first_to_last_purchase_days",
            "T": "customer_age_days",
            "revenue": "current_value",
            "clv": "clv_12m",
        }
    )
    scored["reference_date"] = as_of
    scored["churn_horizon_days"] = models.churn_horizon_days
    scored["ltv_horizon_months"] = models.ltv_horizon_months
    scored["model_version"] = version
    for money in ("current_value", "expected_spend_per_order", "clv_12m"):
        scored[money] = scored[money].round(2)
    scored["value_quadrant"] = value_quadrants(
        scored["current_value"], scored["clv_12m"], models.value_matrix_high_quantile
    )
    return scored
