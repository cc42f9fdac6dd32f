"""End to end: generated deliveries, every asset in one ranged run, assertions on the marts."""

import shutil
from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest

from orchestration.stages import run_range
from tests.support import (
    DEMO_END,
    DEMO_START,
    table_snapshot,
    throwaway_instance,
    weixi_resources,
)


@pytest.fixture(scope="module")
def con(pipeline_warehouse):
    warehouse, _ = pipeline_warehouse
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        yield connection


def _one(con, sql: str):
    return con.execute(sql).fetchone()


def test_customer_360_has_exactly_one_row_per_customer(con):
    rows, distinct = _one(
        con, "select count(*), count(distinct customer_id) from marts.customer_360"
    )
    crm = _one(con, "select count(distinct customer_id) from raw.crm__customers")[0]
    assert rows == distinct == crm > 0


def test_customer_360_figures_agree_with_the_orders(con):
    mismatches = _one(
        con,
        """
        with from_facts as (
            select customer_id, count(*) as orders, sum(net_revenue) as revenue
            from marts.fct_orders where is_purchase and customer_id is not null group by all
        )
        select count(*) from marts.customer_360 c
        left join from_facts f using (customer_id)
        where coalesce(f.orders, 0) <> c.lifetime_orders
           or abs(coalesce(f.revenue, 0) - c.lifetime_net_revenue) > 0.01
    """,
    )[0]
    assert mismatches == 0


def test_rfm_scores_span_one_to_five_and_segments_are_varied(con):
    for score in ("r_score", "f_score", "m_score"):
        values = {
            v for (v,) in con.execute(f"select distinct {score} from marts.customer_rfm").fetchall()
        }
        assert values == {1, 2, 3, 4, 5}, score
    segments = _one(con, "select count(distinct rfm_segment) from marts.customer_rfm")[0]
    assert segments >= 4
    classes = {
        v for (v,) in con.execute("select distinct value_class from marts.customer_rfm").fetchall()
    }
    assert classes == {"high_value", "potential", "general", "low_value"}
    purchasers = _one(con, "select count(*) from marts.customer_360 where lifetime_orders > 0")[0]
    assert _one(con, "select count(*) from marts.customer_rfm")[0] == purchasers


def test_fct_orders_holds_the_latest_state_of_every_delivered_order(con):
    raw, facts = _one(
        con,
        """select (select count(distinct order_id) from raw.orders__orders),
                                     (select count(*) from marts.fct_orders)""",
    )
    assert raw == facts > 0
    stale = _one(
        con,
        """
        with latest as (
            select order_id, arg_max(status, updated_at) as status
            from raw.orders__orders group by all
        )
        select count(*) from marts.fct_orders f join latest l using (order_id)
        where lower(l.status) <> f.order_status
    """,
    )[0]
    assert stale == 0


def test_kpi_daily_covers_every_day(con):
    days, first, last, orders = _one(
        con, "select count(*), min(kpi_date), max(kpi_date), sum(orders) from marts.kpi_daily"
    )
    assert days == (last - first).days + 1
    assert orders == _one(con, "select count(*) from marts.fct_orders where is_purchase")[0]


def test_identity_matching_reports_rates(con):
    rates = con.execute("select * from marts.identity_match_rates").df()
    assert len(rates) >= 3
    assert ((rates["match_rate"] > 0.5) & (rates["match_rate"] <= 1)).all()


def test_rerunning_a_partition_gives_identical_tables(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    warehouse, _ = pipeline_warehouse
    copy = tmp_path / "rerun.duckdb"
    shutil.copy(warehouse, copy)
    before = table_snapshot(copy, ("raw", "marts"))
    result = dg.materialize(
        all_assets,
        partition_key=DEMO_END.isoformat(),
        resources=weixi_resources(copy, demo_landing),
    )
    assert result.success
    after = table_snapshot(copy, ("raw", "marts"))
    assert before.keys() == after.keys()
    for table in before:
        assert before[table].equals(after[table]), table


def test_backfilling_in_two_chunks_gives_the_same_marts(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    warehouse = tmp_path / "chunks.duckdb"
    definitions = dg.Definitions(
        assets=all_assets, resources=weixi_resources(warehouse, demo_landing)
    )
    middle = date(2025, 5, 31)
    with throwaway_instance() as instance:
        for start, end in ((DEMO_START, middle), (middle + timedelta(days=1), DEMO_END)):
            results = list(run_range(definitions, start, end, instance))
            assert len(results) == 4 and all(r.success for r in results)
    whole = table_snapshot(pipeline_warehouse[0], ("marts",))
    chunked = table_snapshot(warehouse, ("marts",))
    assert whole.keys() == chunked.keys()
    for table in whole:
        assert whole[table].equals(chunked[table]), table
