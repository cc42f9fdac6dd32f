"""Bridge 1 of the Spark engine (warehouse/spark_sources.py): which dbt sources are registered from
the loader's Parquet, which are copied from the control file and which the model assets write on
Spark; the control file's rows in types Spark reads; the `control` resource and dbt's
SPARK_REMOTE. What needs Spark itself runs in the Spark lane (tests/spark_lane/)."""

import json
import os

import duckdb
import pyarrow as pa
import pytest

from orchestration.defs.dbt import parse_cache
from orchestration.defs.dbt.resource import dbt_resource, spark_environment
from orchestration.defs.resources import (
    SparkWarehouse,
    Warehouse,
    build_resources,
    control_rows,
    warehouse_resource,
)
from orchestration.settings import WeixiSettings
from warehouse.spark_sources import WRITTEN_ON_SPARK, manifest_sources, plan_sources

SOURCES = [
    "raw.orders__orders",
    "raw._quarantine",
    "raw.crm__customers",
    "governance.suppressions",
    "ml.text_sentiment",
    "marts.churn_scores",
    "marts.model_validation",
    "marts.audience_members",
]


def _parquet_day(root, table, day="2025-06-30", hidden=False):
    folder = root / "raw" / table / f"_partition_date={day}"
    if hidden:
        folder = root / "raw" / table / f".incoming-x/_partition_date={day}"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(f"copy (select 1 as id) to '{folder / 'data_0.parquet'}' (format parquet)")


def test_raw_tables_with_parquet_days_are_registered_the_rest_copied_but_model_outputs(tmp_path):
    _parquet_day(tmp_path, "orders__orders")
    _parquet_day(tmp_path, "crm__customers", hidden=True)  # a write in progress: no rows yet

    plan = plan_sources(SOURCES, tmp_path)

    assert plan.registered == {"raw.orders__orders": tmp_path / "raw" / "orders__orders"}
    assert plan.copied == (
        "governance.suppressions",
        "marts.audience_members",
        "ml.text_sentiment",
        "raw._quarantine",
        "raw.crm__customers",
    )
    assert plan.on_spark == ("marts.churn_scores", "marts.model_validation")


def test_without_a_parquet_root_every_source_but_the_model_outputs_is_copied(tmp_path):
    plan = plan_sources(SOURCES, None)

    assert plan.registered == {}
    assert set(plan.copied) == set(SOURCES) - WRITTEN_ON_SPARK


def test_the_model_outputs_are_the_tables_the_model_assets_write():
    assert WRITTEN_ON_SPARK == {
        "marts.churn_scores",
        "marts.customer_value",
        "marts.customer_personas",
        "marts.persona_profiles",
        "marts.recommendations",
        "marts.model_validation",
    }


def test_the_sources_are_those_a_model_or_test_of_the_manifest_reads(tmp_path):
    manifest = tmp_path / "manifest.json"
    sources = {
        "source.weixi.raw.a": {"schema": "raw", "identifier": "orders__orders"},
        "source.weixi.gov.b": {"schema": "governance", "identifier": "suppressions"},
        "source.weixi.activation.c": {"schema": "activation", "identifier": "sync_state"},
    }
    nodes = {
        "model.weixi.m": {"depends_on": {"nodes": ["source.weixi.raw.a", "model.weixi.n"]}},
        "test.weixi.t": {"depends_on": {"nodes": ["source.weixi.gov.b"]}},
        "model.weixi.n": {"depends_on": {"nodes": []}},
    }
    manifest.write_text(json.dumps({"sources": sources, "nodes": nodes}))

    # activation.sync_state is declared (for the lineage) but read by no model or test.
    assert manifest_sources(manifest) == ["governance.suppressions", "raw.orders__orders"]


def test_the_control_files_rows_come_in_types_spark_reads(tmp_path):
    control = Warehouse(path=str(tmp_path / "control.duckdb"))
    with control.connect() as con:
        con.execute("create schema activation")
        con.execute(
            "create table activation.sync_state as select "
            "uuid() as run_id, 12::hugeint as big, 'x' as name, date '2025-06-30' as day"
        )

    rows = control_rows(control, "activation.sync_state")

    assert rows.column_names == ["run_id", "big", "name", "day"]
    assert pa.types.is_string(rows.schema.field("run_id").type)
    assert rows.schema.field("big").type == pa.decimal128(38, 0)
    assert rows.column("name").to_pylist() == ["x"]
    assert control_rows(control, "activation.missing") is None


def test_on_duckdb_the_control_file_is_the_warehouse_and_nothing_is_bridged(tmp_path):
    settings = WeixiSettings(warehouse=tmp_path / "w.duckdb").resolved()
    resources = build_resources(settings)

    assert isinstance(resources["control"], Warehouse)
    assert resources["control"].path == resources["warehouse"].path
    assert resources["warehouse"].prepare_dbt_sources(resources["control"], tmp_path) is None
    assert resources["dbt"].spark_remote is None


def test_on_spark_the_control_file_stays_duckdb_and_dbt_gets_the_connect_server(tmp_path):
    settings = WeixiSettings(
        warehouse=tmp_path / "w.duckdb",
        engine="spark",
        spark_connect_url="sc://localhost:15123",
    ).resolved()
    resources = build_resources(settings)

    spark = warehouse_resource(settings)
    assert isinstance(spark, SparkWarehouse)
    assert spark.control_path == str(tmp_path / "w.duckdb")
    assert spark.raw_root == str(tmp_path / "spark_raw")
    assert resources["control"].path == str(tmp_path / "w.duckdb")
    assert dbt_resource(settings).spark_remote == "sc://localhost:15123"


def test_the_dbt_process_environment_is_set_only_inside_the_block(monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setenv("WEIXI_DBT_MIN_DATE", "kept")

    with parse_cache.process_environment({"SPARK_REMOTE": "sc://here", "WEIXI_DBT_MIN_DATE": "x"}):
        assert os.environ["SPARK_REMOTE"] == "sc://here"
        assert os.environ["WEIXI_DBT_MIN_DATE"] == "x"

    assert "SPARK_REMOTE" not in os.environ
    assert os.environ["WEIXI_DBT_MIN_DATE"] == "kept"


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_the_control_key_is_the_duckdb_file_on_both_engines(tmp_path, engine):
    settings = WeixiSettings(warehouse=tmp_path / "w.duckdb", engine=engine).resolved()

    control = build_resources(settings)["control"]

    assert isinstance(control, Warehouse)
    assert control.path == str(tmp_path / "w.duckdb")


def test_dbt_on_spark_connects_to_the_server_without_the_hive_warning(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")

    environment = spark_environment("sc://localhost:15123")

    assert environment["SPARK_REMOTE"] == "sc://localhost:15123"
    assert environment["PYTHONWARNINGS"] == (
        "error::DeprecationWarning,ignore:Failed to set spark.sql.catalogImplementation"
    )
