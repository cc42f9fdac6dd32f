"""The lane's check of ``SparkWarehouse.connect()`` on tables DuckDB cannot read from local
Parquet files: the same rows stored by Spark as Parquet, ORC and JSON (built into Spark; a
cluster's Delta or remote tables take the same path), read through ``connect()``. The ORC and
JSON tables reach DuckDB through Spark (``warehouse.spark_views``), the Parquet one from its
files, and again through Spark with ``reads="through_spark"``: each must give the Parquet
files' rows and DuckDB types."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from pyspark.sql import SparkSession

from orchestration.defs.resources import SparkWarehouse
from tests.spark_lane.compare import ModelComparison, compare_tables

ROWS = 20_011
SCHEMA = "quality"
"""A database ``connect()`` exposes (``warehouse.spark.WEIXI_DATABASES``)."""
FORMATS = ("parquet", "orc", "json")
ROWS_SQL = f"""
select
    id as n,
    concat('c', cast(id as string)) as customer_id,
    cast(id / 4 as decimal(18, 2)) as amount,
    case when id % 3 = 0 then null else id * 0.5 end as ratio,
    id % 2 = 0 as even,
    timestamp '2025-01-01 00:00:00' + make_interval(0, 0, 0, 0, 0, 0, id % 86400) as at,
    case when id % 5 = 0 then null else array('a', cast(id % 7 as string)) end as tags,
    date_add(date '2025-06-28', cast(id % 3 as int)) as day
from range({ROWS})
"""
"""Every kind of column the marts hold (an instant, a decimal, a date, a list, nulls), the
table partitioned by ``day`` as the raw tables are."""


def check_stored_as(
    spark: SparkSession, scratch: Path, label: str, connect_url: str | None = None
) -> list[ModelComparison]:
    """Lines of the lane's table: each format's table through ``connect()`` (a
    ``SparkWarehouse`` on ``spark``, the process's session, or at ``connect_url``) against the
    Parquet table's files (rows and DuckDB types), the Parquet table through Spark too. The
    tables are dropped at the end."""
    tables = {kind: f"{SCHEMA}.lane_stored_as_{kind}" for kind in FORMATS}
    spark.sql(f"create database if not exists {SCHEMA}")
    rows = spark.sql(ROWS_SQL)
    for kind, table in tables.items():
        spark.sql(f"drop table if exists {table}")
        rows.write.format(kind).partitionBy("day").saveAsTable(table)
    try:
        control = scratch / f"stored_as_{label.replace(' ', '_')}.duckdb"
        files = _read(spark, connect_url, control, "auto", tables["parquet"])
        reads = [
            (f"{tables[kind]} via connect(), through Spark ({label})", "auto", tables[kind])
            for kind in ("orc", "json")
        ]
        reads.append(
            (
                f"{tables['parquet']} via connect(), through_spark ({label})",
                "through_spark",
                tables["parquet"],
            )
        )
        return [
            _compared(line, files, _read(spark, connect_url, control, mode, table))
            for line, mode, table in reads
        ]
    finally:
        for table in tables.values():
            spark.sql(f"drop table if exists {table}")


def check_rewritten_elsewhere(
    spark: SparkSession, scratch: Path, label: str, connect_url: str | None = None
) -> ModelComparison:
    """A line of the lane's table: a table this process's session has read, replaced by another
    session (as dbt replaces a model's table: dropped and created again, its files new), read
    again through ``connect()``, ``read_arrow`` and ``read_batches``: each must give the new
    rows, where a session that kept the old file listing fails (FILE_NOT_EXIST)."""
    table = f"{SCHEMA}.lane_rewritten"
    line = f"{table} rewritten by another session, read again ({label})"
    spark.sql(f"create database if not exists {SCHEMA}")
    spark.sql(f"drop table if exists {table}")
    spark.sql(f"create table {table} using parquet as select id as n from range(1000)")
    other = (
        spark.newSession()
        if connect_url is None
        else (SparkSession.builder.remote(connect_url).create())
    )
    control = scratch / f"rewritten_{label.replace(' ', '_')}.duckdb"
    try:
        warehouse = _warehouse(spark, connect_url, control, "through_spark")
        before = _reads(warehouse, table)
        other.sql(f"drop table {table}")
        other.sql(f"create table {table} using parquet as select id as n from range(10, 20)")
        expected = other.table(table).toArrow().sort_by("n")
        after = _reads(warehouse, table)
    except Exception as error:
        return ModelComparison(line, "error", 10, 0, f"no: {type(error).__name__}: {error}"[:300])
    finally:
        spark.sql(f"drop table if exists {table}")
    counts = [read.num_rows for read in (*before, *after)]
    print(f"[spark lane] {line}: rows {counts}")
    differ = [
        name
        for name, read in zip(("connect()", "read_arrow", "read_batches"), after, strict=True)
        if compare_tables(expected, read.sort_by("n")) != "yes"
    ]
    match = "yes" if before[0].num_rows == 1000 and not differ else f"no: {differ or counts}"
    return ModelComparison(line, "success", expected.num_rows, after[0].num_rows, match)


def _reads(warehouse: SparkWarehouse, table: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    with warehouse.connect() as con:
        streamed = con.sql(f"select n from {table}").to_arrow_table()
    whole = warehouse.read_arrow(f"select n from {table}")
    batches = pa.Table.from_batches(list(warehouse.read_batches(f"select n from {table}")))
    return streamed, whole, batches


def _warehouse(
    spark: SparkSession, connect_url: str | None, control: Path, reads: str
) -> SparkWarehouse:
    return SparkWarehouse(
        connect_url=connect_url,
        warehouse_dir=spark.conf.get("spark.sql.warehouse.dir", ""),
        control_path=str(control),
        reads=reads,
        batch_rows=4_096,
    )


def _read(
    spark: SparkSession, connect_url: str | None, control: Path, reads: str, table: str
) -> tuple[pa.Table, list]:
    """``table``'s rows through ``connect()`` read as ``reads`` says, and its DuckDB types."""
    warehouse = _warehouse(spark, connect_url, control, reads)
    began = time.monotonic()
    with warehouse.connect() as con:
        types = con.execute(f"select column_name, column_type from (describe {table})").fetchall()
        arrow = con.sql(f"from {table}").to_arrow_table()
    seconds = time.monotonic() - began
    print(f"[spark lane] {table} via connect() ({reads}): {arrow.num_rows:,} rows, {seconds:.2f} s")
    return arrow, types


def _compared(
    line: str, files: tuple[pa.Table, list], read: tuple[pa.Table, list]
) -> ModelComparison:
    (expected, expected_types), (got, got_types) = files, read
    if got_types != expected_types:
        differ = sorted(set(got_types) ^ set(expected_types))
        match = f"no: DuckDB types differ: {differ or got_types}"
    else:
        match = compare_tables(expected, got)
    return ModelComparison(line, "success", expected.num_rows, got.num_rows, match)
