"""Recommendations and product associations on two years of generated deliveries: the model
beats popularity on the backtest, every active customer gets a list, nothing unsellable is
offered, and the planted co-purchase pairs come out on top."""

import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.ml.recommendations import recommendations
from orchestration.settings import get_settings
from tests.support import weixi_resources

K = get_settings().recommendations_per_customer


@pytest.fixture(scope="module")
def recommended(ml_warehouse, ml_landing, tmp_path_factory):
    """A copy of the two-year warehouse with the recommendations materialised (twice: the
    second run, within the retraining cadence, scores with the stored similarities and must give
    the same table). Returns the warehouse and the materialisation of the training run."""
    warehouse = tmp_path_factory.mktemp("recommend") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    tables, materialisations = [], []
    for _ in range(2):
        result = dg.materialize([recommendations], resources=weixi_resources(warehouse, ml_landing))
        assert result.success
        materialisations += result.asset_materializations_for_node("marts__recommendations")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables.append(con.execute("select * from marts.recommendations order by all").df())
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert materialisations[1].metadata["model_run"].value.startswith("scored with model")
    return warehouse, materialisations[0]


@pytest.fixture(scope="module")
def con(recommended):
    with duckdb.connect(str(recommended[0]), read_only=True) as connection:
        yield connection


def _one(con, sql: str):
    return con.execute(sql).fetchall()[0]


def test_the_model_beats_popularity_on_the_backtest(con, recommended):
    figures = (
        con.execute("select * from marts.model_validation where model = 'recommendations'")
        .df()
        .set_index("metric")
    )
    precision, recall, hit = (
        figures.loc[f"{m}_at_{K}"] for m in ("precision", "recall", "hit_rate")
    )
    assert precision["baseline"] == "popularity"
    assert precision["value"] > 1.5 * precision["baseline_value"]
    assert recall["value"] > 1.5 * recall["baseline_value"]
    assert hit["value"] > hit["baseline_value"] + 0.15
    assert figures.loc["backtest_customers", "value"] >= 100
    metadata = recommended[1].metadata
    assert metadata[f"hit_rate_at_{K}"].value == pytest.approx(hit["value"])


def test_every_active_customer_gets_a_full_list(con):
    missing = _one(
        con,
        f"""
        with active as (
            select customer_id from marts.customer_360
            where lifetime_orders > 0
                and days_since_last_order <= {get_settings().churned_after_days}
        ),
        lists as (
            select customer_id, count(*) as n, list(rank order by rank) as ranks
            from marts.recommendations group by all
        )
        select count(*) filter (where lists.n is null),
               count(*) filter (where lists.n <> {K} or lists.ranks <> range(1, {K + 1})),
               count(*)
        from active left join lists using (customer_id)
        """,
    )
    assert missing[0] == 0 and missing[1] == 0 and missing[2] > 500
    everyone = _one(
        con,
        """select (select count(*) from marts.customer_360),
                  (select count(distinct customer_id) from marts.recommendations)""",
    )
    assert everyone[1] >= everyone[0]


def test_nothing_unsellable_is_recommended(con):
    discontinued = _one(
        con,
        """select count(*) from marts.recommendations r
           join staging.stg_orders__products p using (product_id)
           where p.product_status = 'discontinued'""",
    )[0]
    bought_once = _one(
        con,
        """
        with bought as (
            select distinct o.customer_id, l.product_id
            from marts.fct_order_lines l join marts.fct_orders o using (order_id)
            where o.is_purchase and o.customer_id is not null
        )
        select count(*) from marts.recommendations r
        join bought b using (customer_id, product_id)
        join staging.stg_orders__products p using (product_id)
        where not p.is_repeat_purchase
        """,
    )[0]
    assert discontinued == 0 and bought_once == 0
    assert _one(
        con,
        "select count(*) from staging.stg_orders__products where product_status = 'discontinued'",
    )[0]


def test_reasons_are_in_words_and_name_what_the_customer_bought(con):
    kinds = dict(
        con.execute(
            "select reason_kind, count(*) from marts.recommendations group by all"
        ).fetchall()
    )
    assert set(kinds) == {"bought_with", "buy_again", "popular"}
    unexplained = _one(
        con,
        """
        with bought as (
            select distinct o.customer_id, l.product_id
            from marts.fct_order_lines l join marts.fct_orders o using (order_id)
            where o.is_purchase
        )
        select count(*) from marts.recommendations r
        left join bought b on b.customer_id = r.customer_id
            and b.product_id = r.reason_product_id
        where r.reason_kind <> 'popular' and b.product_id is null
        """,
    )[0]
    assert unexplained == 0
    prospects = con.execute(
        """select distinct r.reason_kind from marts.recommendations r
           join marts.customer_360 c using (customer_id) where c.lifetime_orders = 0"""
    ).fetchall()
    assert prospects == [("popular",)]
    sample = con.execute(
        "select reason from marts.recommendations where reason_kind = 'bought_with' limit 1"
    ).fetchall()[0][0]
    assert sample.startswith("bought with ") and len(sample) > len("bought with ")


def test_planted_pairs_top_the_associations(ml_warehouse, ml_landing):
    planted = pd.read_parquet(ml_landing / "_truth" / "co_purchase_pairs.parquet")
    pairs = {(a, b) for a, b in zip(planted["product_a"], planted["product_b"], strict=True)}
    both_ways = pairs | {(b, a) for a, b in pairs}
    subcategories = set(zip(planted["subcategory_a"], planted["subcategory_b"], strict=True))
    with duckdb.connect(str(ml_warehouse), read_only=True) as con:
        rules = con.execute(
            """select association_level, antecedent, consequent, lift, confidence
               from marts.product_associations order by association_level, lift_rank"""
        ).df()
    products = rules[rules["association_level"] == "product"]
    ranked = list(zip(products["antecedent"], products["consequent"], strict=True))
    top = set(ranked[: len(both_ways)])
    assert top == both_ways
    planted_rules = products[[pair in pairs for pair in ranked]]
    assert (planted_rules["lift"] > 5).all() and planted_rules["confidence"].median() > 0.7
    level = rules[rules["association_level"] == "subcategory"].head(2 * len(subcategories))
    found = {frozenset(p) for p in zip(level["antecedent"], level["consequent"], strict=True)}
    assert found == {frozenset(p) for p in subcategories}


def test_a_short_history_leaves_the_mart_empty(pipeline_warehouse, demo_landing, tmp_path):
    warehouse = tmp_path / "short.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    result = dg.materialize([recommendations], resources=weixi_resources(warehouse, demo_landing))
    assert result.success
    metadata = result.asset_materializations_for_node("marts__recommendations")[0].metadata
    assert "days of purchases" in metadata["model_skipped"].value
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from (describe marts.recommendations)"
            ).fetchall()
        ]
        assert con.execute("select count(*) from marts.recommendations").fetchall()[0][0] == 0
    assert columns[:6] == ["customer_id", "rank", "product_id", "product_name", "score", "reason"]
