"""The retention marts on two years of generated data: cohort retention, monthly KPIs, the B2B
decision chain (a warehouse built by the pipeline), and segment history, migrations and the
health score (the same warehouse after the models scored it). Each test checks a property a
wrong join or a rule that drifted from customer_rfm / customer_360 would break."""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.settings import WeixiSettings
from tests.support import SCORED_DBT, code_location_assets, run_dbt, weixi_resources

REFERENCE = "(select max(reference_date) from marts.customer_360)"
PURCHASES = f"""
    select customer_id, order_date, net_revenue from marts.fct_orders
    where is_purchase and customer_id is not null and order_date <= {REFERENCE}
"""


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_cohorts_hold_every_buyer_once_and_start_fully_retained(ml_warehouse):
    cohorts = _query(ml_warehouse, "select * from marts.cohort_retention")
    purchases = _query(ml_warehouse, PURCHASES)
    month_0 = cohorts[cohorts["months_since_acquisition"] == 0]
    assert (month_0["customer_retention_rate"] == 1).all()
    assert (month_0["revenue_retention_rate"] == 1).all()
    assert month_0["cohort_customers"].sum() == purchases["customer_id"].nunique()
    assert cohorts["revenue"].sum() == pytest.approx(purchases["net_revenue"].sum(), abs=0.01)
    # Each buyer of a month belongs to exactly one cohort: the cohorts' active customers of a
    # month add up to that month's buyers.
    purchases["month"] = pd.to_datetime(purchases["order_date"]).dt.to_period("M")
    buyers = purchases.groupby("month")["customer_id"].nunique()
    cohorts["month"] = pd.to_datetime(cohorts["activity_month"]).dt.to_period("M")
    active = cohorts.groupby("month")["active_customers"].sum()
    pd.testing.assert_series_equal(active, buyers, check_names=False, check_dtype=False)
    assert cohorts["customer_retention_rate"].between(0, 1).all()


def test_monthly_churn_carries_over_into_the_next_months_actives(ml_warehouse):
    kpi = _query(ml_warehouse, "select * from marts.kpi_monthly order by month")
    purchases = _query(ml_warehouse, PURCHASES)
    purchases["month"] = pd.to_datetime(purchases["order_date"]).dt.to_period("M")
    assert (kpi["customers_retained"] + kpi["customers_churned"]).equals(
        kpi["customers_active_at_start"]
    )
    assert kpi["customers_churned"].sum() > 0, "two years of data: someone churns"
    # Active at the start of the next month = active now - churned now + this month's buyers
    # who were not active at its start (churned_after_days is longer than a month).
    churned_after = WeixiSettings().churned_after_days
    for this, following in zip(kpi.itertuples(), kpi.iloc[1:].itertuples(), strict=False):
        start = pd.Timestamp(this.month)
        window = purchases["order_date"].between(
            start - pd.Timedelta(days=churned_after + 1), start - pd.Timedelta(days=1)
        )
        active = set(purchases.loc[window, "customer_id"])
        bought = set(purchases.loc[purchases["month"] == start.to_period("M"), "customer_id"])
        assert this.customers_active_at_start == len(active), this.month
        expected = len(active) - this.customers_churned + len(bought - active)
        assert following.customers_active_at_start == expected, following.month


def test_monthly_service_kpis_count_every_answer_and_complaint(ml_warehouse):
    kpi = _query(ml_warehouse, "select * from marts.kpi_monthly")
    counts = _query(
        ml_warehouse,
        f"""
        select
            (select count(*) from staging.stg_service__tickets
             where is_complaint and cast(opened_at as date) <= {REFERENCE}) as complaints,
            (select count(*) from staging.stg_service__surveys
             where survey_type = 'nps' and cast(answered_at as date) <= {REFERENCE}) as nps,
            (select count(*) from staging.stg_service__surveys
             where survey_type = 'csat' and cast(answered_at as date) <= {REFERENCE}) as csat
        """,
    ).iloc[0]
    assert kpi["complaints"].sum() == counts["complaints"] > 0
    assert kpi["nps_answers"].sum() == counts["nps"] > 0
    assert kpi["csat_answers"].sum() == counts["csat"] > 0
    assert kpi["nps"].dropna().between(-100, 100).all()
    assert kpi["complaint_first_reply_sla_rate"].dropna().between(0, 1).all()


def test_every_account_finds_its_planted_decision_maker_and_revisits(ml_warehouse):
    accounts = _query(
        ml_warehouse,
        """
        select b2b.*, crm.revisit_interval_days
        from marts.b2b_account_contacts as b2b
        inner join staging.stg_crm__customers as crm using (customer_id)
        """,
    )
    staged = _query(
        ml_warehouse,
        """
        select count(*) as contacts from staging.stg_crm__contacts
        where customer_id in (
            select customer_id from staging.stg_crm__customers where customer_type = 'business'
        )
        """,
    )
    businesses = _query(
        ml_warehouse,
        "select count(*) as n from staging.stg_crm__customers where customer_type = 'business'",
    )
    assert len(accounts) == businesses["n"][0] > 0 and accounts["customer_id"].is_unique
    assert accounts["contacts"].sum() == staged["contacts"][0]
    # The generator gives every business account exactly one decision maker.
    with_contacts = accounts[accounts["contacts"] > 0]
    assert (with_contacts["decision_makers"] == 1).all()
    assert with_contacts["has_decision_maker"].all()
    assert (
        accounts[["decision_makers", "influencers", "users", "unknown_role_contacts"]].sum(axis=1)
        == accounts["contacts"]
    ).all()
    # Account managers revisit every revisit_interval_days: the last revisit is never older.
    visited = accounts.dropna(subset=["last_revisit_at"])
    assert len(visited) > len(accounts) / 2
    age = pd.to_datetime(visited["reference_date"]) - visited["last_revisit_at"].dt.normalize()
    assert (age.dt.days <= visited["revisit_interval_days"]).all()
    recent = pd.to_datetime(accounts["reference_date"]) - pd.Timedelta(
        days=WeixiSettings().decision_maker_contact_days
    )
    expected = accounts["decision_maker_last_contacted_at"] >= recent
    assert accounts["decision_maker_contacted_recently"].equals(expected)


def test_the_reference_snapshot_agrees_with_customer_segments(scored_warehouse):
    compared = _query(
        scored_warehouse,
        """
        select history.*, segments.rfm_segment as rfm_now,
            segments.value_quadrant as quadrant_now, segments.lifecycle_stage as stage_now,
            segments.membership_tier as tier_now
        from marts.segment_history as history
        full join marts.customer_segments as segments
            on segments.customer_id = history.customer_id
        where history.is_reference_date or history.customer_id is null
        """,
    )
    assert compared["snapshot_date"].notna().all(), "a customer is missing from the snapshot"
    assert len(compared) == len(_query(scored_warehouse, "select * from marts.customer_360"))
    for history, now in [
        ("rfm_segment", "rfm_now"),
        ("value_quadrant", "quadrant_now"),
        ("lifecycle_stage", "stage_now"),
        ("tier", "tier_now"),
    ]:
        differ = compared[compared[history].fillna("-") != compared[now].fillna("-")]
        assert differ.empty, differ[["customer_id", history, now]].head()
    assert compared["value_quadrant"].notna().any()


def test_snapshots_are_month_ends_and_migrations_add_up(scored_warehouse):
    history = _query(scored_warehouse, "select * from marts.segment_history")
    migrations = _query(scored_warehouse, "select * from marts.segment_migrations")
    first_order = _query(scored_warehouse, PURCHASES)["order_date"].min()
    reference = history.loc[history["is_reference_date"], "snapshot_date"].iloc[0]
    month_ends = pd.date_range(first_order, reference, freq="ME")
    expected = sorted({*month_ends[month_ends < pd.Timestamp(reference)], pd.Timestamp(reference)})
    assert sorted(pd.to_datetime(history["snapshot_date"].unique())) == expected
    dates = sorted(history["snapshot_date"].unique())
    members = history.groupby("snapshot_date")["customer_id"].apply(set)
    sums = migrations.groupby(["from_snapshot_date", "to_snapshot_date", "dimension"])[
        "customers"
    ].sum()
    assert set(sums.index.get_level_values("dimension")) == {
        "rfm_segment",
        "value_quadrant",
        "lifecycle_stage",
        "tier",
    }
    for before, after in zip(dates, dates[1:], strict=False):
        shared = len(members[before] & members[after])
        for dimension in ("rfm_segment", "value_quadrant", "lifecycle_stage", "tier"):
            assert sums[(before, after, dimension)] == shared, (before, dimension)
    # Purchases only accumulate: nobody who had bought goes back to being a prospect.
    stages = migrations[migrations["dimension"] == "lifecycle_stage"]
    assert stages[(stages["from_value"] != "prospect") & (stages["to_value"] == "prospect")].empty
    assert migrations["is_change"].any()


def test_health_scores_every_customer_and_ranks_champions_above_lost(scored_warehouse):
    health = _query(
        scored_warehouse,
        """
        select health.*, rfm.rfm_segment
        from marts.customer_health as health
        left join marts.customer_rfm as rfm using (customer_id)
        """,
    )
    customers = _query(scored_warehouse, "select customer_id from marts.customer_360")
    assert sorted(health["customer_id"]) == sorted(customers["customer_id"])
    components = [c for c in health.columns if c.endswith("_score")]
    assert len(components) == 8
    for column in components:
        assert health[column].dropna().between(0, 100).all(), column
    assert health["health_score"].notna().all()
    means = health.groupby("rfm_segment")["health_score"].mean()
    assert means["champions"] > means["lost"] + 20, means


def test_snapshots_keep_the_value_quadrant_they_were_scored_with(
    scored_warehouse, ml_landing, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(scored_warehouse, warehouse)
    # As if an earlier night, when the first snapshot was the reference date, had scored it.
    with duckdb.connect(str(warehouse)) as con:
        first = con.execute("select min(snapshot_date) from marts.segment_history").fetchone()[0]
        con.execute(
            "update marts.segment_history set value_quadrant = 'growth' where snapshot_date = ?",
            [first],
        )
    assets = code_location_assets(SCORED_DBT)
    for _ in range(2):
        assert dg.materialize(assets, resources=weixi_resources(warehouse, ml_landing)).success
        kept = _query(
            warehouse,
            f"select distinct value_quadrant from marts.segment_history "
            f"where snapshot_date = '{first}'",
        )
        assert kept["value_quadrant"].tolist() == ["growth"]
    before = _query(scored_warehouse, "select * from marts.segment_history order by all")
    after = _query(warehouse, "select * from marts.segment_history order by all")
    unchanged = after["snapshot_date"] != pd.Timestamp(first)
    assert not unchanged.all()
    pd.testing.assert_frame_equal(
        before[unchanged.to_numpy()].reset_index(drop=True),
        after[unchanged.to_numpy()].reset_index(drop=True),
    )


def test_a_customer_twice_in_a_snapshot_fails_its_uniqueness_test(
    scored_warehouse, ml_landing, tmp_path
):
    # The snapshot and customer columns are tested as a pair (not as one string built from
    # them): a row copied into the same snapshot must still be found.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(scored_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into marts.segment_history "
            "select * from marts.segment_history where is_reference_date limit 1"
        )
    target = tmp_path / "dbt"
    run_dbt(
        ["test", "-s", "segment_history"], weixi_resources(warehouse, ml_landing), warehouse, target
    )
    results = json.loads((target / "run_results.json").read_text())["results"]
    failed = [r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"]
    assert failed == ["unique_combination_segment_history_snapshot_date__customer_id"]


def test_audience_candidates_pick_the_cross_sell_and_top_three_by_rank(scored_warehouse):
    # The cross-sell is the best-ranked bought-together product, else the first
    # recommendation; the recommended products are the top three names in rank order.
    recs = _query(scored_warehouse, "select * from marts.recommendations").sort_values(
        ["customer_id", "rank"]
    )
    first = recs.groupby("customer_id").head(1).set_index("customer_id")
    bought_with = recs[recs["reason_kind"] == "bought_with"].groupby("customer_id").head(1)
    cross_sell = first[["product_id", "product_name"]].copy()
    cross_sell.loc[bought_with["customer_id"]] = bought_with[["product_id", "product_name"]].values
    top_three = recs[recs["rank"] <= 3].groupby("customer_id")["product_name"].agg("; ".join)
    candidates = _query(
        scored_warehouse,
        "select customer_id, cross_sell_product_id, cross_sell_product_name, "
        "recommended_products from marts.audience_candidates",
    ).set_index("customer_id")
    assert (bought_with["rank"] > 1).any() and candidates["recommended_products"].notna().any()
    expected = pd.DataFrame(
        {
            "cross_sell_product_id": cross_sell["product_id"],
            "cross_sell_product_name": cross_sell["product_name"],
            "recommended_products": top_three,
        }
    ).reindex(candidates.index)
    pd.testing.assert_frame_equal(
        candidates.astype(object).where(candidates.notna(), None),
        expected.astype(object).where(expected.notna(), None),
        check_names=False,
    )
