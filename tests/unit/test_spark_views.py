"""Spark's tables as views of a DuckDB connection (``warehouse.spark_views``), on Parquet files
written as Spark writes them (INT96 or UTC-adjusted instants, day folders), without Spark: the
lane (tests/spark_lane/assets_on_spark.py) runs them on real Spark tables."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration import warehouse_lock
from orchestration.defs.resources import EngineWarehouse, SparkWarehouse
from orchestration.warehouse_lock import lock_path
from serving.snapshot import published_tables
from warehouse.spark_views import (
    SparkTable,
    TableReads,
    UnreadableSparkTable,
    control_tables,
    exposed,
    spark_catalog,
)

INFORMATION = """Catalog: spark_catalog
Database: marts
Table: kpi
Type: MANAGED
Provider: parquet
Location: file:/data/spark/marts.db/kpi
Partition Columns: [`_partition_date`]
Schema: root
 |-- sent_at: timestamp (nullable = true)
 |-- local_at: timestamp_ntz (nullable = true)
 |-- amount: decimal(18,2) (nullable = true)
 |-- tags: array (nullable = true)
 |    |-- element: string (containsNull = true)
 |-- _partition_date: date (nullable = true)
"""
AT = datetime(2025, 6, 30, 13, 45, 1, 500000)


def test_a_show_table_extended_row_gives_the_table():
    table = SparkTable.described("marts", "kpi", INFORMATION)
    assert (table.kind, table.provider) == ("MANAGED", "parquet")
    assert table.local_folder() == Path("/data/spark/marts.db/kpi")
    assert table.partition_columns == ("_partition_date",)
    assert [name for name, _ in table.columns] == [
        "sent_at",
        "local_at",
        "amount",
        "tags",
        "_partition_date",
    ]
    assert table.instant_columns == ["sent_at"]
    assert table.schema_tree.splitlines()[2:4] == [
        " |-- amount: decimal(18,2) (nullable = true)",
        " |-- tags: array (nullable = true)",
    ]
    assert " |    |-- element: string (containsNull = true)" in table.schema_tree


@pytest.mark.parametrize(
    ("location", "provider"),
    [("s3a://bucket/marts.db/kpi", "parquet"), ("dbfs:/marts/kpi", "parquet"), (None, "delta")],
)
def test_remote_or_other_format_tables_are_refused_by_name(location, provider):
    table = SparkTable("marts", "kpi", "EXTERNAL", provider, location, ())
    with pytest.raises(UnreadableSparkTable, match="marts.kpi"):
        table.files_glob()


def _table(folder: Path, name: str, columns, partitions=()) -> SparkTable:
    return SparkTable(
        "marts", name, "MANAGED", "parquet", f"file:{folder / name}", columns, partitions
    )


@pytest.fixture
def spark_files(tmp_path: Path) -> list[SparkTable]:
    """Three tables as Spark writes them: instants as INT96 (its default) and as UTC-adjusted
    micros, and a table partitioned by day."""
    rows = pa.table(
        {
            "sent_at": pa.array([AT], pa.timestamp("us")),
            "local_at": pa.array([AT], pa.timestamp("us")),
            "amount": pa.array([Decimal("3.25")], pa.decimal128(18, 2)),
            "flag": [True],
        }
    )
    (tmp_path / "int96").mkdir()
    pq.write_table(
        rows, tmp_path / "int96" / "part-0.parquet", use_deprecated_int96_timestamps=True
    )
    (tmp_path / "micros").mkdir()
    adjusted = rows.set_column(0, "sent_at", rows.column("sent_at").cast(pa.timestamp("us", "UTC")))
    pq.write_table(adjusted, tmp_path / "micros" / "part-0.parquet")
    day = tmp_path / "days" / "_partition_date=2025-06-30"
    day.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"]}), day / "part-0.parquet")
    (tmp_path / "days" / ".incoming-1" / "_partition_date=2025-07-01").mkdir(parents=True)
    columns = (("sent_at", "timestamp"), ("local_at", "timestamp_ntz"), ("amount", "decimal"))
    return [
        _table(tmp_path, "int96", columns),
        _table(tmp_path, "micros", columns),
        _table(
            tmp_path, "days", (("id", "string"), ("_partition_date", "date")), ("_partition_date",)
        ),
    ]


def test_views_read_the_wall_clock_times_and_types_duckdb_has(tmp_path, spark_files):
    with duckdb.connect(str(tmp_path / "control-file.duckdb")) as con:
        with spark_catalog(con, spark_files, TableReads()):
            for name in ("int96", "micros"):
                described = dict(
                    con.execute(
                        f"select column_name, column_type from (describe marts.{name})"
                    ).fetchall()
                )
                assert described["sent_at"] == "TIMESTAMP", name
                assert con.execute(
                    f"select sent_at, local_at, amount, flag from marts.{name}"
                ).fetchall() == [(AT, AT, Decimal("3.25"), True)]
            assert con.execute("select * from marts.days").fetchall() == [("a", date(2025, 6, 30))]
            assert published_tables(con) == ["marts.days", "marts.int96", "marts.micros"]


def test_instants_read_in_the_session_time_zone(tmp_path, spark_files):
    with (
        duckdb.connect() as con,
        spark_catalog(con, spark_files[:2], TableReads(), "Asia/Shanghai"),
    ):
        rows = con.execute(
            "from marts.int96 select sent_at union all from marts.micros select sent_at"
        )
        assert rows.fetchall() == [(AT.replace(hour=21),)] * 2


def test_the_control_files_own_tables_win_and_take_what_is_written(tmp_path, spark_files):
    path = str(tmp_path / "control.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create schema marts")
        con.execute("create table marts.micros as select 1 as own")
        shown = exposed(spark_files, control_tables(con), set())
        assert [table.name for table in shown] == ["int96", "days"]
        with spark_catalog(
            con, shown, TableReads(copies={"marts.days": pa.table({"copied": [7]})})
        ):
            assert con.execute("select own from marts.micros").fetchall() == [(1,)]
            assert con.execute("select copied from marts.days").fetchall() == [(7,)]
            con.execute("create schema if not exists activation")
            con.execute("create table activation.members as select count(*) n from marts.int96")
            con.execute("create table marts.written as select 2 as n")
        assert control_tables(con) == {"marts.micros", "activation.members", "marts.written"}
        assert con.execute("select current_setting('search_path')").fetchone() == ("",)
    with duckdb.connect(path, read_only=True) as con, spark_catalog(con, shown, TableReads()):
        assert con.execute("select n from activation.members").fetchall() == [(1,)]
        assert con.execute("select count(*) from marts.int96").fetchall() == [(1,)]


def test_views_are_not_exposed_unless_copied():
    view = SparkTable("intermediate", "int_reference", "VIEW", None, None, ())
    table = SparkTable("marts", "kpi", "MANAGED", "parquet", "file:/x", ())
    assert exposed([view, table], set(), set()) == [table]
    assert exposed([view, table], set(), {"intermediate.int_reference"}) == [view, table]


def test_a_run_on_spark_holds_the_control_files_writer_lock(tmp_path):
    control = tmp_path / "control.duckdb"
    held_during_run = []

    @dg.asset
    def probe(warehouse: EngineWarehouse) -> None:
        held_during_run.append(lock_path(control) in warehouse_lock._held)

    warehouse = SparkWarehouse(warehouse_dir=str(tmp_path / "spark"), control_path=str(control))
    assert dg.materialize([probe], resources={"warehouse": warehouse}).success
    assert held_during_run == [True]
    assert lock_path(control) not in warehouse_lock._held
