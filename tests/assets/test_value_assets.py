"""The value assets on two years of generated shop data: lifetime value, value matrix, customer
segments and revenue concentration; and a young shop whose history is too short."""

import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.support import table_snapshot, weixi_resources


def _model_assets() -> list:
    from orchestration.defs.dbt.assets import dbt_model_assets
    from orchestration.defs.ml.personas import customer_personas
    from orchestration.defs.ml.value import customer_value

    return [customer_value, customer_personas, dbt_model_assets().scored]


def _selection() -> dg.AssetSelection:
    """The value and persona assets and, of the scored dbt marts, only customer_segments: the
    others (audience candidates) also read the churn and recommendation tables, which these
    tests do not build."""
    value, personas, _ = _model_assets()
    return dg.AssetSelection.assets(value, personas) | dg.AssetSelection.keys(
        ["marts", "customer_segments"]
    )


@pytest.fixture(scope="module")
def scored(ml_warehouse, ml_landing, tmp_path_factory):
    """A copy of the two-year warehouse with the value and persona assets and the scored marts
    built on it."""
    warehouse = tmp_path_factory.mktemp("value") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    result = dg.materialize(
        _model_assets(), resources=weixi_resources(warehouse, ml_landing), selection=_selection()
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        yield con, result, warehouse


def _frame(con, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_every_buyer_gets_a_lifetime_value(scored):
    con, *_ = scored
    value = _frame(con, "select * from marts.customer_value")
    buyers = _frame(
        con,
        """select customer_id, days_since_last_order from marts.customer_360
           where lifetime_orders > 0""",
    )
    assert value["customer_id"].is_unique
    assert set(buyers["customer_id"]) <= set(value["customer_id"])
    model_columns = [c for c in value.columns if c != "customer_id"]
    assert value[model_columns].notna().all().all()
    assert value["p_alive"].between(0, 1).all()
    assert value["p_no_purchase_churn_horizon"].between(0, 1).all()
    assert (value["clv_12m"] >= 0).all() and value["clv_12m"].sum() > 0
    assert set(value["value_quadrant"]) == {"strategic", "growth", "basic", "marginal"}
    # BG/NBD cannot drop a customer before a repeat purchase.
    assert (value.loc[value["repeat_purchases"] == 0, "p_alive"] == 1).all()
    # Lapsed repeat buyers are less likely alive and worth less than recent ones.
    repeat = value[value["repeat_purchases"] >= 3]
    gap = repeat["customer_age_days"] - repeat["first_to_last_purchase_days"]
    recent, lapsed = repeat[gap < 60], repeat[gap > 300]
    assert recent["p_alive"].median() > 0.8 > lapsed["p_alive"].median()
    assert recent["clv_12m"].median() > 5 * lapsed["clv_12m"].median()


def test_quadrants_follow_current_and_predicted_value(scored):
    con, *_ = scored
    value = _frame(con, "select * from marts.customer_value")
    by = value.groupby("value_quadrant")[["current_value", "clv_12m"]].median()
    assert by.loc["strategic", "current_value"] > by.loc["growth", "current_value"]
    assert by.loc["strategic", "clv_12m"] > by.loc["basic", "clv_12m"]
    assert by.loc["basic", "current_value"] > by.loc["marginal", "current_value"]
    assert by.loc["growth", "clv_12m"] > by.loc["marginal", "clv_12m"]


def test_the_model_beats_naive_forecasts_in_the_holdout(scored):
    con, result, _ = scored
    figures = _frame(con, "select * from marts.model_validation where model = 'customer_value'")
    for metric in ("holdout_purchases_mae", "holdout_purchases_rmse", "holdout_revenue_mae"):
        rows = figures[figures["metric"] == metric]
        assert set(rows["baseline"]) == {"historic_rate", "last_period"}
        assert (rows["value"] < rows["baseline_value"]).all(), metric
    total = figures[figures["metric"] == "holdout_purchases_total_error"]
    assert (total["value"].abs() < total["baseline_value"].abs()).all()
    # Each figure is recorded under the model that made it: the holdout figures with the
    # parameters of the fit calibrated up to the cut-off, the parameters of the fit that scores
    # customer_value under that table's model_version.
    (scoring,) = con.execute("select distinct model_version from marts.customer_value").fetchone()
    versions = figures.groupby("model_version")["metric"].agg(set)
    assert len(versions) == 2 and scoring in versions.index
    (tested,) = set(versions.index) - {scoring}
    assert tested < scoring  # calibrated up to an earlier day
    assert "holdout_purchases_mae" in versions[tested]
    assert not any(m.startswith("holdout_") for m in versions[scoring])
    for version in (tested, scoring):
        assert {"param_r", "param_alpha", "param_p", "param_q", "converged"} <= versions[version]
        params = figures[figures["model_version"] == version].set_index("metric")["value"]
        # The demo buys at 0.044 a day on average (docs/demo_data.md); each fit must see that.
        assert 0.025 < params["param_r"] / params["param_alpha"] < 0.07
    notes = figures.groupby("model_version")["note"].first()
    assert "scores marts.customer_value" in notes[scoring] and tested in notes[scoring]
    assert "scores no customer" in notes[tested]
    metadata = result.asset_materializations_for_node("marts__customer_value")[0].metadata
    assert metadata["dagster/row_count"].value > 1000
    assert "holdout_purchases_mae (last_period)" in metadata
    assert "customer_id" in metadata["preview"].md_str and "@" not in metadata["preview"].md_str


def test_customer_segments_hold_every_segmentation_of_every_customer(scored):
    con, *_ = scored
    segments = _frame(con, "select * from marts.customer_segments")
    crm = con.execute("select count(*) from marts.customer_360").fetchall()[0][0]
    assert len(segments) == crm and segments["customer_id"].is_unique
    active = segments[~segments["lifecycle_stage"].isin(["prospect", "churned"])]
    assert len(active) > 500
    for column in ("value_quadrant", "persona", "rfm_segment", "membership_tier"):
        assert active[column].notna().all(), column
    prospects = segments[segments["lifecycle_stage"] == "prospect"]
    assert prospects["value_quadrant"].isna().all() and prospects["persona"].isna().all()
    value = _frame(con, "select customer_id, value_quadrant from marts.customer_value")
    joined = segments.merge(value, on="customer_id", suffixes=("", "_model"))
    assert (joined["value_quadrant"] == joined["value_quadrant_model"]).all()


def test_revenue_concentration_matches_a_recount(scored):
    con, *_ = scored
    last_day, share = con.execute(
        """select kpi_date, top20_revenue_share_12m from marts.kpi_daily
           order by kpi_date desc limit 1"""
    ).fetchall()[0]
    orders = _frame(
        con,
        f"""select customer_id, cast(net_revenue as double) as revenue from marts.fct_orders
            where is_purchase and customer_id is not null
              and order_date > date '{last_day}' - interval 365 day
              and order_date <= date '{last_day}'""",
    )
    revenue = orders.groupby("customer_id")["revenue"].sum().sort_values(ascending=False)
    top = int(np.ceil(0.2 * len(revenue)))
    assert share == pytest.approx(revenue.iloc[:top].sum() / revenue.sum(), rel=1e-9)
    assert 0.4 < share < 0.95
    measured = _frame(
        con, "select kpi_date from marts.kpi_daily where top20_revenue_share_12m is not null"
    )
    month_ends = pd.to_datetime(measured["kpi_date"]).dt.is_month_end
    assert month_ends.sum() >= 23 and (~month_ends).sum() <= 1


def test_rerunning_the_models_gives_identical_tables(scored, ml_landing, tmp_path):
    _, _, warehouse = scored
    again = tmp_path / "again.duckdb"
    shutil.copy(warehouse, again)
    models = _model_assets()[:2]  # the dbt marts on top are plain SQL over these tables
    assert dg.materialize(models, resources=weixi_resources(again, ml_landing)).success
    before, after = table_snapshot(warehouse, ("marts",)), table_snapshot(again, ("marts",))
    for table in ("customer_value", "customer_personas", "persona_profiles"):
        assert before[f"marts.{table}"].equals(after[f"marts.{table}"]), table


def test_a_young_shop_gets_empty_value_tables_and_still_builds_its_segments(
    pipeline_warehouse, demo_landing, tmp_path
):
    warehouse = tmp_path / "young.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    result = dg.materialize(
        _model_assets(), resources=weixi_resources(warehouse, demo_landing), selection=_selection()
    )
    assert result.success
    metadata = result.asset_materializations_for_node("marts__customer_value")[0].metadata
    assert "180 days of purchases" in metadata["skipped"].value
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.customer_value").fetchall()[0][0] == 0
        columns = [r[0] for r in con.execute("describe marts.customer_value").fetchall()]
        assert {"p_alive", "clv_12m", "value_quadrant"} <= set(columns)
        rows, quadrants = con.execute(
            "select count(*), count(value_quadrant) from marts.customer_segments"
        ).fetchall()[0]
        assert rows > 0 and quadrants == 0
