"""The DuckDB side of the lane: the test suite's small warehouse built by the `weixi` command,
the raw tables written by the loader itself on Spark settings (its Parquet day folders), and
the other tables dbt reads as sources exported to Parquet for Spark."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.spark_sources import spark_readable_select

# The test suite's demo warehouse (tests/support: DEMO_*, and tests/conftest.py's seed);
# tests/unit/test_spark_lane.py keeps them equal.
DEMO_CUSTOMERS = 400
DEMO_DAYS = 75
DEMO_END = "2025-06-30"
DEMO_SEED = 7
PARTITION_COLUMN = "_partition_date"
"""The delivery day of a raw row: raw tables are written as one Parquet folder per day."""
RAW_SCHEMA = "raw"
"""The schema of the tables the loader writes (its Parquet store holds them on Spark)."""
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SourceTable:
    """A table dbt reads as a source, where the DuckDB build has it and where Spark reads it."""

    schema: str
    name: str
    parquet: Path
    partitioned: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def shop_environment(scratch: Path) -> dict[str, str]:
    """A `weixi` environment writing only under ``scratch`` (as orchestration.settings'
    ``shop_environment``, which this environment cannot import), on DuckDB whatever the
    caller's WEIXI_ENGINE says."""
    return {
        **os.environ,
        "WEIXI_ENGINE": "duckdb",
        "WEIXI_LANDING": str(scratch / "landing"),
        "WEIXI_WAREHOUSE": str(scratch / "warehouse.duckdb"),
        "WEIXI_DAGSTER_HOME": str(scratch / "dagster_home"),
        "WEIXI_QUALITY_DOCS": str(scratch / "quality_docs"),
        "WEIXI_MODEL_REGISTRY": str(scratch / "models"),
        "WEIXI_ALERT_LOG": str(scratch / "alerts.log"),
        "WEIXI_EXPORTS_DIR": str(scratch / "exports"),
        "DO_NOT_TRACK": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }


def build_duckdb_warehouse(weixi: Path, scratch: Path) -> Path:
    """Generate the test-size deliveries and run the whole pipeline on them with ``weixi`` (the
    main environment's command), into ``scratch``; the warehouse file."""
    environment = shop_environment(scratch)
    generate = ["generate", "--customers", str(DEMO_CUSTOMERS), "--days", str(DEMO_DAYS)]
    generate += ["--end-date", DEMO_END, "--seed", str(DEMO_SEED)]
    generate += ["--out", environment["WEIXI_LANDING"]]
    for arguments in (generate, ["run"]):
        subprocess.run([str(weixi), *arguments], env=environment, check=True)
    return Path(environment["WEIXI_WAREHOUSE"])


def raw_environment(scratch: Path) -> dict[str, str]:
    """The environment of the loader's run on Spark settings: the lane's landing folder, a
    DuckDB file of its own under ``scratch/raw_load`` and the Parquet root
    ``scratch/spark_raw``."""
    return {
        **shop_environment(scratch / "raw_load"),
        "WEIXI_ENGINE": "spark",
        "WEIXI_LANDING": str(scratch / "landing"),
        "WEIXI_SPARK_RAW_ROOT": str(scratch / "spark_raw"),
    }


def load_raw_parquet(weixi: Path, scratch: Path) -> Path:
    """Run the ingestion assets on Spark settings over the lane's landing folder
    (``raw_load.py``, by the Python beside ``weixi``); the Parquet root they wrote."""
    environment = raw_environment(scratch)
    module = ["-m", "tests.spark_lane.raw_load"]
    subprocess.run([str(weixi.parent / "python"), *module], env=environment, cwd=REPO, check=True)
    return Path(environment["WEIXI_SPARK_RAW_ROOT"])


def raw_sources(
    root: Path, sources: Iterable[tuple[str, str]]
) -> tuple[list[SourceTable], list[tuple[str, str]]]:
    """The ``raw`` sources the loader wrote under ``root`` (their day folders, read by Spark as
    partitions), and the other sources: the rest of the pipeline's outputs, and any raw table
    without a row (no folder holds its columns), which are exported from the DuckDB build."""
    written, others = [], []
    for schema, name in sorted(set(sources)):
        folder = root / schema / name
        if schema == RAW_SCHEMA and any(folder.rglob("*.parquet")):
            written.append(SourceTable(schema, name, folder, partitioned=True))
        else:
            others.append((schema, name))
    return written, others


def export_sources(
    warehouse: Path, sources: Iterable[tuple[str, str]], out: Path
) -> tuple[list[SourceTable], list[str]]:
    """Copy each ``(schema, table)`` source the DuckDB build holds to Parquet under ``out``:
    tables with a delivery day as one folder per day, the others as one file. Returns the
    exported tables and the sources the build does not hold."""
    exported, missing = [], []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for schema, name in sorted(set(sources)):
            columns = _columns(connection, schema, name)
            if not columns:
                missing.append(f"{schema}.{name}")
                continue
            exported.append(_export(connection, schema, name, columns, out))
    return exported, missing


def _columns(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    rows = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return dict(rows)


def _export(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    columns: dict[str, str],
    out: Path,
) -> SourceTable:
    # An empty table as one file: a partitioned copy of no rows writes no file, and Spark
    # cannot read a table's columns from no file.
    [(rows,)] = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchall()
    partitioned = PARTITION_COLUMN in columns and rows > 0
    target = out / schema / name
    target.parent.mkdir(parents=True, exist_ok=True)
    query = f'select {spark_readable_select(columns)} from "{schema}"."{name}"'
    if partitioned:
        options = f"format parquet, partition_by ({PARTITION_COLUMN})"
        connection.execute(f"copy ({query}) to '{target}' ({options})")
    else:
        target.mkdir(parents=True, exist_ok=True)
        connection.execute(f"copy ({query}) to '{target / 'data.parquet'}' (format parquet)")
    return SourceTable(schema, name, target, partitioned)
