"""Output-table checks on the demo pipeline's warehouse: they pass on the demo marts, block bad
ones, register only for tables that exist, and appear in the code location."""

import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from data_quality.table_rules import MART_RULES
from orchestration.defs.quality.checks import quality_definitions, table_checks
from orchestration.defs.resources import WAREHOUSE_POOL, Warehouse
from tests.support import weixi_resources

DBT_MARTS = {
    ("marts", t)
    for t in (
        "customer_360",
        "customer_rfm",
        "fct_orders",
        "fct_order_lines",
        "kpi_daily",
        "identity_match_rates",
    )
}


def _check_marts(warehouse, tmp_path, demo_landing, tags=None) -> dg.ExecuteInProcessResult:
    """Run the checks of the dbt marts on ``warehouse`` without rebuilding them."""
    return dg.materialize(
        [*(dg.AssetSpec(dg.AssetKey(list(k))) for k in DBT_MARTS), *table_checks(DBT_MARTS)],
        resources=weixi_resources(warehouse, demo_landing, quality_docs=tmp_path / "docs"),
        selection=dg.AssetSelection.all_asset_checks(),
        raise_on_error=False,
        tags=tags,
    )


@pytest.fixture
def marts_copy(pipeline_warehouse, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], copy)
    return copy


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_demo_marts_pass_and_bad_marts_are_blocked(marts_copy, tmp_path, demo_landing):
    result = _check_marts(marts_copy, tmp_path, demo_landing)
    evaluations = _evaluations(result)
    assert {name for name, _ in evaluations} == {k[1] for k in DBT_MARTS}
    failed = {
        k: e.metadata["failed_expectations"].value for k, e in evaluations.items() if not e.passed
    }
    assert result.success and not failed

    with duckdb.connect(str(marts_copy)) as con:
        con.execute(
            "insert into marts.customer_rfm select * from marts.customer_rfm "
            "order by customer_id limit 1"
        )
        con.execute(
            "update marts.kpi_daily set repurchase_rate = 1.5 where kpi_date = "
            "(select max(kpi_date) from marts.kpi_daily)"
        )
    result = _check_marts(marts_copy, tmp_path, demo_landing)
    evaluations = _evaluations(result)
    rfm, kpi = evaluations[("customer_rfm", "integrity")], evaluations[("kpi_daily", "integrity")]
    assert not rfm.passed and not kpi.passed
    assert rfm.severity == dg.AssetCheckSeverity.ERROR and rfm.blocking
    assert "one row per customer_id: 2 of" in rfm.metadata["failed_expectations"].value
    assert (
        "probability in [0, 1](repurchase_rate): 1 of" in kpi.metadata["failed_expectations"].value
    )
    assert not result.success, "a failed blocking check fails the run"


def test_a_nights_check_tests_a_fact_tables_key_for_the_orders_delivered_that_night(
    marts_copy, tmp_path, demo_landing
):
    with duckdb.connect(str(marts_copy)) as con:
        first, last = con.execute(
            "select min(delivered_on), max(delivered_on) from marts.fct_orders"
        ).fetchone()
        for day in (first, last):
            con.execute(
                "insert into marts.fct_orders select * from marts.fct_orders "
                "where delivered_on = ? order by order_id limit 1",
                [day],
            )

    def failed(tags=None) -> str:
        result = _check_marts(marts_copy, tmp_path, demo_landing, tags)
        return (
            _evaluations(result)[("fct_orders", "integrity")].metadata["failed_expectations"].value
        )

    assert "one row per order_id: 2 of" in failed({"dagster/partition": last.isoformat()})
    assert "one row per order_id: 4 of" in failed()


def _churn_asset(drop_one: bool, bad_probability: bool) -> dg.AssetsDefinition:
    """Stands in for the churn model: scores every active customer of customer_360."""

    @dg.asset(key=["marts", "churn_scores"], pool=WAREHOUSE_POOL)
    def churn_scores(warehouse: Warehouse) -> None:
        with warehouse.connect() as con:
            scores = con.execute(
                "select customer_id, reference_date as as_of, 0.25 as churn_probability, "
                "'low' as risk_band from marts.customer_360 "
                "where lifecycle_stage not in ('prospect', 'churned') order by customer_id"
            ).df()
        if drop_one:
            scores = scores.iloc[1:]
        if bad_probability:
            scores.loc[scores.index[0], "churn_probability"] = 1.2
        warehouse.write_table("marts.churn_scores", pd.DataFrame(scores))

    return churn_scores


def test_model_mart_checks_exist_only_with_their_asset(marts_copy, tmp_path, demo_landing):
    assert quality_definitions(dg.Definitions()).asset_checks == []
    churn = _churn_asset(drop_one=False, bad_probability=False)
    checks = list(quality_definitions(dg.Definitions(assets=[churn])).asset_checks)
    assert {key.name for c in checks for key in c.check_keys} == {"integrity", "freshness"}
    assert {key.asset_key for c in checks for key in c.check_keys} == {churn.key}

    resources = weixi_resources(marts_copy, demo_landing, quality_docs=tmp_path / "docs")
    result = dg.materialize([churn, *checks], resources=resources)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())

    # A customer left unscored and a probability above 1: the integrity check blocks.
    bad = _churn_asset(drop_one=True, bad_probability=True)
    result = dg.materialize([bad, *checks], resources=resources, raise_on_error=False)
    integrity = _evaluations(result)[("churn_scores", "integrity")]
    assert not integrity.passed and not result.success
    failed = integrity.metadata["failed_expectations"].value
    assert "probability in [0, 1](churn_probability): 1 of" in failed
    assert "every one of the active customers present: 1 of" in failed


def test_code_location_registers_quality_checks_and_the_alert_sensor(dbt_manifest):
    from orchestration.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for source in ("crm", "orders", "service", "social"):
        for name in ("contract", "plausibility", "volume", "freshness"):
            assert (f"raw/{source}", name) in checks
    materialisable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    for entry in MART_RULES:
        key = dg.AssetKey(list(entry.asset_key))
        registered = (key.to_user_string(), "integrity") in checks
        assert registered == (key in materialisable), entry.table
    assert (DBT_MARTS - {tuple(k.path) for k in materialisable}) == set()
    sensor = definitions.resolve_sensor_def("weixi_run_failure_alert")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    nightly = definitions.resolve_job_def("weixi_nightly")
    assert dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "contract") in (
        nightly.asset_layer.asset_graph.asset_check_keys
    )
