"""The ingestion assets write the raw tables as Parquet day folders on Spark, and only there."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from ingest.contract import ORDERS
from orchestration.defs.raw import ingest_assets
from orchestration.defs.resources import build_resources, duckdb_warehouse
from orchestration.settings import WeixiSettings, get_settings
from tests.support import DEMO_END, weixi_resources

ORDERS_ASSET = next(a for a in ingest_assets if a.key == dg.AssetKey(["raw", "orders"]))


def _materialize(tmp_path, landing, monkeypatch, engine: str) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("WEIXI_ENGINE", engine)
    monkeypatch.setenv("WEIXI_SPARK_RAW_ROOT", str(tmp_path / "spark_raw"))
    get_settings.cache_clear()
    try:
        warehouse = tmp_path / "w.duckdb"
        resources = weixi_resources(warehouse, landing)
        # On Spark too the loader works in the DuckDB file, the control file (docs/scale_out.md).
        assert resources["control"] == duckdb_warehouse(
            WeixiSettings(warehouse=warehouse, landing=landing).resolved()
        )
        return dg.materialize(
            [ORDERS_ASSET], partition_key=DEMO_END.isoformat(), resources=resources
        )
    finally:
        get_settings.cache_clear()


def test_on_spark_the_day_is_written_as_parquet(tmp_path, demo_landing, monkeypatch):
    result = _materialize(tmp_path, demo_landing, monkeypatch, "spark")
    assert result.success
    written = {}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        for entity in ORDERS.entities:
            table = ORDERS.raw_table(entity)
            [(rows,)] = con.execute(f"select count(*) from {table}").fetchall()
            day = tmp_path / "spark_raw" / table.replace(".", "/") / f"_partition_date={DEMO_END}"
            files = f"'{day}/*.parquet'"
            written[table] = (rows, con.sql(f"from {files}").shape[0] if day.exists() else 0)
    assert all(rows == n for rows, n in written.values()), written
    assert sum(rows for rows, _ in written.values()) > 0
    [materialization] = result.asset_materializations_for_node("raw__orders")
    assert materialization.metadata["parquet"].value == str(tmp_path / "spark_raw" / "raw")


def test_on_duckdb_nothing_more_is_written(tmp_path, demo_landing, monkeypatch):
    assert _materialize(tmp_path, demo_landing, monkeypatch, "duckdb").success
    assert not (tmp_path / "spark_raw").exists()


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_the_parquet_root_defaults_beside_the_warehouse(tmp_path, engine):
    settings = WeixiSettings(warehouse=tmp_path / "shop" / "warehouse.duckdb", engine=engine)
    assert settings.spark_raw_root == tmp_path / "shop" / "spark_raw"
    store = build_resources(settings.resolved())["landing"].parquet_store()
    assert (store is None) == (engine == "duckdb")
