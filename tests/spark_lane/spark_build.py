"""The Spark side of the lane: one local SparkSession, the exported sources registered as tables
in the schemas dbt expects, and dbt run in this process on that session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbt.cli.main import dbtRunner, dbtRunnerResult
from pyspark.sql import SparkSession

from tests.spark_lane.duckdb_build import SourceTable

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def start_session(scratch: Path, driver_memory: str = "2g") -> SparkSession:
    """The lane's one SparkSession: two local cores, a small driver, no UI, its tables under
    ``scratch``. The session time zone is UTC, as the DuckDB build's (the machine's)."""
    return (
        SparkSession.builder.master("local[2]")
        .appName("weixi-spark-lane")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(scratch / "spark_warehouse"))
        # Two cores and a small warehouse: Spark's default of 200 shuffle partitions would
        # spend most of each statement scheduling empty tasks.
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def register_sources(spark: SparkSession, tables: Sequence[SourceTable]) -> None:
    """Each exported table as an external Parquet table ``<schema>.<name>``, as dbt's sources
    name it; the per-day folders of raw tables read as the partition column."""
    for schema in sorted({table.schema for table in tables}):
        spark.sql(f"create database if not exists `{schema}`")
    for table in tables:
        spark.sql(f"drop table if exists `{table.schema}`.`{table.name}`")
        spark.catalog.createTable(
            f"`{table.schema}`.`{table.name}`", path=str(table.parquet), source="parquet"
        )
        if table.partitioned:
            spark.sql(f"alter table `{table.schema}`.`{table.name}` recover partitions")


def dbt_arguments(command: str, scratch: Path, *extra: str) -> list[str]:
    """A dbt invocation on the project with its `spark` target, writing only under
    ``scratch``."""
    return [
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        "spark",
        "--target-path",
        str(scratch / "dbt_target"),
        "--log-path",
        str(scratch / "dbt_logs"),
        "--no-send-anonymous-usage-stats",
        *extra,
    ]


def parse_sources(scratch: Path) -> tuple[Any, list[tuple[str, str]]]:
    """The parsed manifest and every ``(schema, table)`` dbt reads as a source."""
    result = _invoke(dbt_arguments("parse", scratch))
    manifest = result.result
    return manifest, [(s.schema, s.identifier) for s in manifest.sources.values()]


def build(scratch: Path, unit_tests: bool = False) -> list[Any]:
    """``dbt build`` of the whole project on the running session, as the pipeline's builds
    (data tests; the unit tests too with ``unit_tests``); every node's result, failed ones
    included."""
    excluded = [] if unit_tests else ["--exclude-resource-type", "unit_test"]
    result = dbtRunner().invoke(dbt_arguments("build", scratch, *excluded))
    if result.result is None:
        raise RuntimeError(f"dbt build did not run: {result.exception}")
    return list(result.result.results)


def _invoke(arguments: list[str]) -> dbtRunnerResult:
    result = dbtRunner().invoke(arguments)
    if not result.success:
        raise RuntimeError(f"dbt {arguments[0]} failed: {result.exception}")
    return result
