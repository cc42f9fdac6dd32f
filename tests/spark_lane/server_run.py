"""The lane's last step: the pipeline run on a local Spark Connect server, as on a cluster.

A server of its own (``warehouse.spark_server``, Hive catalog, Derby metastore, under
``scratch/spark_server``) is started; ``weixi run`` (the Spark environment's command, with
``WEIXI_ENGINE=spark`` over the DuckDB build's landing folder, its control file, model registry
and outputs under ``scratch/spark_run``) runs the whole pipeline there. Then every dbt model and
the model assets' tables that Spark holds, the tables activation and the checks write, every
export file, the serving file's tables and the report are compared with the DuckDB build's, and
the server is stopped (also when something failed)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import SparkSession

from tests.spark_lane.assets_on_spark import compare_files, compare_written_tables, without_clock
from tests.spark_lane.batches import check_read_batches
from tests.spark_lane.compare import ModelComparison, compare_tables
from tests.spark_lane.duckdb_build import REPO, shop_environment
from warehouse.spark_server import SparkServer
from warehouse.spark_sources import WRITTEN_ON_SPARK

LABEL = "(weixi run)"
RUN_FOLDER = "spark_run"
"""The run's folder in the scratch folder: its control file, model registry and outputs."""
COPIED_SOURCES = ("governance.suppressions", "ml.text_sentiment")
"""Sources the run writes in its control file and copies into Spark before dbt (bridge 1)."""


def local_server(scratch: Path) -> SparkServer:
    """The lane's Spark Connect server, on a free port, its files under ``scratch``."""
    folder = scratch / "spark_server"
    return SparkServer(port=_free_port(), folder=folder, warehouse_dir=folder / "warehouse")


def run_environment(scratch: Path, server: SparkServer) -> dict[str, str]:
    """The run's environment: the lane's landing folder, everything it writes under
    ``scratch/spark_run``, on Spark at ``server``."""
    run = scratch / RUN_FOLDER
    return {
        **shop_environment(run),
        "WEIXI_ENGINE": "spark",
        "WEIXI_LANDING": str(scratch / "landing"),
        "WEIXI_SPARK_CONNECT_URL": server.url,
        "WEIXI_SPARK_SERVER_PORT": str(server.port),
        "WEIXI_SPARK_WAREHOUSE_DIR": str(server.warehouse_dir),
    }


def run_and_compare(
    scratch: Path, warehouse: Path, manifest: Any
) -> tuple[list[ModelComparison], str]:
    """Start the server, run the pipeline there, compare with the DuckDB build ``warehouse``,
    stop the server. Returns the comparison lines and the run's error (empty when it passed)."""
    server = local_server(scratch)
    server.start()
    try:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "weixi"), "run"],
            env=run_environment(scratch, server),
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        (scratch / "spark_run.log").write_text(run.stdout + run.stderr)
        error = "" if run.returncode == 0 else (run.stderr.strip().splitlines() or ["?"])[-1]
        status = "error" if error else "success"
        outputs = {"duckdb": warehouse.parent, "spark": scratch / RUN_FOLDER}
        spark = SparkSession.builder.remote(server.url).getOrCreate()
        try:
            lines = [
                *compare_run(spark, warehouse, manifest),
                check_read_batches(spark, "Spark Connect"),
            ]
            controls = {engine: folder / "warehouse.duckdb" for engine, folder in outputs.items()}
            lines += compare_written_tables(controls, spark, status, LABEL)
            return lines + compare_files(outputs, status, LABEL), error
        finally:
            spark.stop()
    finally:
        server.stop()


def compare_run(spark: SparkSession, warehouse: Path, manifest: Any) -> list[ModelComparison]:
    """Every dbt model, the model assets' tables and the copied sources as the run left them on
    Spark, against the DuckDB build's."""
    models = sorted(
        f"{node.schema}.{node.alias}"
        for node in manifest.nodes.values()
        if node.resource_type == "model"
    )
    tables = [*models, *sorted(WRITTEN_ON_SPARK), *COPIED_SOURCES]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [_compared(spark, connection, table) for table in tables]


def _compared(
    spark: SparkSession, connection: duckdb.DuckDBPyConnection, table: str
) -> ModelComparison:
    schema, name = table.split(".")
    held = connection.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    ours = connection.table(f'"{schema}"."{name}"').to_arrow_table() if held else None
    theirs = spark.table(table).toArrow() if spark.catalog.tableExists(table) else None
    if theirs is None:
        match = "no: not on Spark"
    elif ours is None:
        match = "no: not in the DuckDB build"
    else:
        # Two runs: what each took from the clock (when it recorded a row) is left out.
        match = compare_tables(without_clock(ours), without_clock(theirs))
    return ModelComparison(
        f"{table} {LABEL}",
        "success" if theirs is not None else "missing",
        None if ours is None else ours.num_rows,
        None if theirs is None else theirs.num_rows,
        match,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]
