"""Next products per customer from their purchase history (item-item collaborative filtering),
with a popularity fallback, backtested against popularity on every run."""

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from ml import registry
from ml.history import NotEnoughHistory
from ml.recommend import (
    MODEL_NAME,
    REASON_AGAIN,
    REASON_POPULAR,
    REASON_WITH,
    Backtest,
    Catalogue,
    Purchases,
    Recommendations,
    backtest,
    item_similarity,
    popularity,
    purchase_matrices,
    recommend,
    reindex_similarity,
)
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, Validation, left_empty, publish
from orchestration.defs.ml.model_validation import Figure
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models
from warehouse.model_outputs import RECOMMENDATIONS

REASON_KINDS = {REASON_POPULAR: "popular", REASON_AGAIN: "buy_again", REASON_WITH: "bought_with"}

# Every CRM customer and every customer with a purchase, in a fixed order (their positions).
CUSTOMERS_SQL = """
select customer_id from marts.customer_360
union
select customer_id from marts.fct_orders where customer_id is not null
order by customer_id
"""
PRODUCTS_SQL = """
select
    product_id,
    coalesce(product_name, product_id) as product_name,
    coalesce(category, 'the shop') as category,
    coalesce(product_status, '') <> 'discontinued' as sellable,
    is_repeat_purchase as repeatable
from staging.stg_orders__products
order by product_id
"""
# A purchase line's day, counted from KEY_EPOCH, fills the low DAY_BITS bits of its key.
KEY_EPOCH = date(1900, 1, 1)
"""The data contract refuses dates before 1900."""
DAY_BITS = 17
"""Days up to 2258."""


# The purchase lines up to the reference date, each as one integer key of its customer,
# product and day positions: (customer x products + product) x 2^DAY_BITS + day.
# ``customer_positions`` is the customer list read above, registered with its positions (so the
# union of both customer tables is read once). Lines come unordered and not grouped:
# ``_lines_per_day`` counts them in numpy, in a fixed order, cheaper than a group by and
# ``order by`` on millions of rows. On DuckDB the orders are matched to their customers before
# the lines (``materialized``), so the join on the customers' ids probes each order once, not
# each line; Spark plans the joins itself.
def purchase_lines_sql(warehouse: EngineWarehouse) -> str:
    """The query of the purchase lines' keys, in ``warehouse``'s spelling of a day count and a
    materialised CTE."""
    day = warehouse.days_between(f"date '{KEY_EPOCH}'", "orders.order_date")
    return f"""
with
products as (
    select product_id, row_number() over (order by product_id) - 1 as product
    from staging.stg_orders__products
),
orders as {warehouse.materialized_cte} (
    select order_id, customer_positions.customer, order_date
    from marts.fct_orders
    inner join customer_positions using (customer_id)
    where is_purchase and order_date <= $reference_date
)
select
    (orders.customer * $products + products.product) * {2**DAY_BITS} + {day} as line_key
from marts.fct_order_lines as lines
inner join orders using (order_id)
inner join products using (product_id)
"""


def _read(warehouse: EngineWarehouse, reference: date) -> tuple[pd.Series, pd.DataFrame, Purchases]:
    customers = warehouse.read_arrow(CUSTOMERS_SQL)
    products = warehouse.read_frame(PRODUCTS_SQL)
    positions = customers.append_column("customer", pa.array(np.arange(customers.num_rows)))
    keys = warehouse.read_arrow(
        purchase_lines_sql(warehouse),
        {"reference_date": reference, "products": len(products)},
        views={"customer_positions": positions},
    ).column("line_key")
    customer_ids = customers.column("customer_id").to_pandas()
    return (
        customer_ids,
        products,
        Purchases(_lines_per_day(keys.to_numpy(), len(products)), len(customer_ids)),
    )


def _lines_per_day(line_keys: np.ndarray, n_products: int) -> pd.DataFrame:
    """Lines per customer, product and day, ordered by the three: the decayed sums over days are
    floats, so a fixed order keeps the scores the same on every run. Each line is one integer
    key (customer, product, day; see ``PURCHASE_LINES_SQL``), so a sort and a count of equal
    neighbours do the group by."""
    keys = np.sort(np.asarray(line_keys, dtype=np.int64))
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    key = keys[starts]
    customer_product = key >> DAY_BITS
    days = (key & (2**DAY_BITS - 1)) + (KEY_EPOCH - date(1970, 1, 1)).days
    return pd.DataFrame(
        {
            "customer": customer_product // n_products,
            "product": customer_product % n_products,
            "order_date": days.astype("datetime64[D]").astype("M8[us]"),
            "lines": np.diff(starts, append=len(keys)),
        }
    )


def _texts(values: np.ndarray | pd.Series | list, positions: np.ndarray, missing=None) -> pa.Array:
    """``values[positions]`` as a dictionary-encoded string column (null where ``missing``):
    the positions are the indices, so the ten million texts of a night are never built in
    Python, and DuckDB stores them as plain ``varchar``."""
    return pa.DictionaryArray.from_arrays(
        pa.array(positions, pa.int64(), mask=missing),
        pa.array(np.asarray(values, dtype=object), pa.string()),
    )


def recommendation_table(
    recs: Recommendations, customers: pd.Series, products: pd.DataFrame, version: str
) -> pa.Table:
    """The mart rows: ids, names and the reason in words for each recommendation, as the
    Arrow table written to ``marts.recommendations`` (its columns, in its order)."""
    names = products["product_name"].to_numpy(dtype=object)
    ids = products["product_id"].to_numpy(dtype=object)
    popular_in = "popular in " + products["category"].astype(str).to_numpy(dtype=object)
    reason_product = np.maximum(recs.reason_product, 0)
    # One table of every reason text: "bought with <name>" per product, "buy again", then
    # "popular in <category>" per product; each recommendation picks its text by position.
    reason_texts = np.concatenate(["bought with " + names, ["buy again"], popular_in])
    reason = np.where(
        recs.reason == REASON_WITH,
        reason_product,
        np.where(recs.reason == REASON_AGAIN, len(names), len(names) + 1 + recs.product),
    )
    kinds = sorted(REASON_KINDS)
    columns = {
        "customer_id": _texts(customers, recs.customer),
        "rank": pa.array(recs.rank, pa.int64()),
        "product_id": _texts(ids, recs.product),
        "product_name": _texts(names, recs.product),
        "score": pa.array(recs.score, pa.float64()),
        "reason": _texts(reason_texts, reason),
        "reason_kind": _texts(
            [REASON_KINDS[k] for k in kinds], np.searchsorted(kinds, recs.reason)
        ),
        "reason_product_id": _texts(ids, reason_product, recs.reason == REASON_POPULAR),
        "model_version": _texts([version], np.zeros(len(recs.customer), dtype=np.int64)),
    }
    return pa.table(
        [columns[name] for name in RECOMMENDATIONS.column_names],
        names=list(RECOMMENDATIONS.column_names),
    )


def backtest_figures(result: Backtest, k: int) -> list[Figure]:
    """Precision, recall and hit rate of the model with the popularity baseline beside."""
    return [
        Figure(f"precision_at_{k}", result.precision, "popularity", result.popularity_precision),
        Figure(f"recall_at_{k}", result.recall, "popularity", result.popularity_recall),
        Figure(f"hit_rate_at_{k}", result.hit_rate, "popularity", result.popularity_hit_rate),
        Figure("backtest_customers", result.customers),
        Figure("backtest_warm_customers", result.warm_customers),
    ]


@dg.asset(
    key=["marts", "recommendations"],
    deps=[
        dg.AssetKey(["marts", "customer_360"]),
        dg.AssetKey(["marts", "fct_orders"]),
        dg.AssetKey(["marts", "fct_order_lines"]),
        dg.AssetKey(["staging", "stg_orders__products"]),
        dg.AssetKey(["intermediate", "int_reference_date__selected"]),
    ],
    group_name="ml",
    kinds={"python", "scipy", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def recommendations(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, models: Models
) -> dg.MaterializeResult:
    """The next products to offer each customer, best first, with the reason in words
    ("bought with ...", "buy again", "popular in ..."); never a product they cannot be sold.
    Product similarities are refitted and backtested every ``WEIXI_RETRAIN_EVERY_DAYS`` days."""
    k = models.recommendations_per_customer
    reference = warehouse.reference_date()
    customers, products, purchases = _read(warehouse, reference)
    catalogue = Catalogue(
        sellable=products["sellable"].to_numpy(dtype=bool),
        repeatable=products["repeatable"].to_numpy(dtype=bool),
    )
    cadence = models.cadence(MODEL_NAME, reference)
    ids = products["product_id"].tolist()
    weighted, bought = purchase_matrices(purchases, catalogue.size, reference)
    validations = []
    if cadence.retrain:
        version = f"item_similarity-{reference}"
        try:
            result = backtest(purchases, catalogue, reference, k)
        except NotEnoughHistory as reason:
            metadata = {"model_skipped": str(reason), "model_run": cadence.description}
            empty = left_empty(context, [RECOMMENDATIONS], str(reason), metadata)
            return publish(warehouse, empty)[0]
        similarity = item_similarity(bought)
        model = {"product_ids": ids, "similarity": similarity}
        registry.register(models.path, MODEL_NAME, model, {}, trained_on=reference, version=version)
        registry.promote(models.path, MODEL_NAME, version, f"purchases up to {reference}")
        validations.append(
            Validation(
                MODEL_NAME,
                version,
                backtest_figures(result, k),
                note=f"time split at {result.cutoff}: fitted before, scored on the next 30 days",
            )
        )
        backtest_cutoff = str(result.cutoff)
    else:
        version, model = cadence.promoted.version, cadence.promoted.load()
        similarity = reindex_similarity(model["similarity"], model["product_ids"], ids)
        backtest_cutoff = f"{cadence.promoted.trained_on} (of the model in use)"
    popular = popularity(purchases, catalogue.size, reference)
    recs = recommend(weighted, bought, similarity, popular, catalogue, k)
    table = recommendation_table(recs, customers, products, version)
    metadata = {
        "customers": len(np.unique(recs.customer)),
        "model_run": cadence.description,
        "backtest_cutoff": backtest_cutoff,
        "reasons": dg.MetadataValue.md(_reason_counts(recs)),
        "most_recommended": dg.MetadataValue.md(_top_products(recs, products)),
    }
    return publish(warehouse, [TableOutput(RECOMMENDATIONS, table, metadata)], validations)[0]


def _reason_counts(recs: Recommendations) -> str:
    counts = np.bincount(recs.reason, minlength=len(REASON_KINDS))
    most_first = np.argsort(-counts, kind="stable")
    return markdown_table(
        ["reason", "recommendations"],
        [[REASON_KINDS[r], int(counts[r])] for r in most_first if counts[r]],
    )


def _top_products(recs: Recommendations, products: pd.DataFrame, limit: int = 10) -> str:
    """The most recommended products, counted on positions (products are in id order, so ties
    fall as a group-by on the ids would order them)."""
    counts = np.bincount(recs.product, minlength=len(products))
    recommended = np.flatnonzero(counts)
    top = pd.Series(counts[recommended], index=recommended).nlargest(limit)
    ids, names = products["product_id"].to_numpy(), products["product_name"].to_numpy()
    return markdown_table(
        ["product", "name", "customers"], [[ids[p], names[p], int(n)] for p, n in top.items()]
    )
