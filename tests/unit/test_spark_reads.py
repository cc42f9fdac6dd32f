"""How ``SparkWarehouse.connect()`` reads a Spark table DuckDB cannot read from local Parquet
files (``warehouse.spark_views``): which tables go through Spark, and the views over their
streams, without Spark (a stream of hand-made Arrow batches stands for Spark's). The lane
(tests/spark_lane/) reads real Spark tables this way."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from orchestration.defs.resources import streams_read, warehouse_resource
from orchestration.settings import WeixiSettings
from serving.snapshot import reading_cursor
from warehouse.spark_views import (
    SparkStream,
    SparkTable,
    TableReads,
    materialise_streams,
    read_through_spark,
    spark_catalog,
    wall_clock_schema,
    with_streams,
)

AT = datetime(2025, 6, 30, 13, 45, 1, 500000)
COLUMNS = (
    ("sent_at", "timestamp"),
    ("amount", "decimal"),
    ("day", "date"),
    ("tags", "array"),
    ("n", "long"),
)
# The rows and Arrow types Spark Connect streams for COLUMNS (instants in UTC).
SPARK_ROWS = pa.table(
    {
        "sent_at": pa.array([AT, None], pa.timestamp("us", "UTC")),
        "amount": pa.array([Decimal("3.25"), None], pa.decimal128(18, 2)),
        "day": pa.array([date(2025, 6, 30), None], pa.date32()),
        "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
        "n": pa.array([1, 2], pa.int64()),
    }
)


def _table(provider: str | None, location: str | None, name: str = "kpi") -> SparkTable:
    return SparkTable("marts", name, "MANAGED", provider, location, COLUMNS)


@pytest.mark.parametrize(
    ("provider", "location", "reads", "through_spark"),
    [
        ("parquet", "file:{here}", "auto", False),
        ("parquet", "{here}", "auto", False),
        ("parquet", "file:{here}/not_on_this_machine", "auto", True),
        ("parquet", "s3a://bucket/marts.db/kpi", "auto", True),
        ("parquet", "abfss://lake@account.dfs.core.windows.net/kpi", "auto", True),
        ("parquet", "dbfs:/user/hive/warehouse/marts.db/kpi", "auto", True),
        ("parquet", "hdfs://namenode/marts.db/kpi", "auto", True),
        ("delta", "file:{here}", "auto", True),
        ("orc", "file:{here}", "auto", True),
        ("hive", "file:{here}", "auto", True),
        (None, None, "auto", True),
        ("parquet", "file:{here}", "through_spark", True),
    ],
)
def test_only_local_parquet_is_read_from_files_unless_told(
    tmp_path, provider, location, reads, through_spark
):
    location = location and location.format(here=tmp_path)
    assert read_through_spark(_table(provider, location), reads) is through_spark


def test_an_unknown_way_of_reading_is_refused():
    with pytest.raises(ValueError, match="spark_reads"):
        read_through_spark(_table("parquet", "/x"), "sometimes")
    with pytest.raises(ValidationError, match="spark_reads"):
        WeixiSettings(spark_reads="sometimes")


def test_the_setting_reaches_the_spark_warehouse(tmp_path):
    settings = WeixiSettings(
        warehouse=tmp_path / "w.duckdb", engine="spark", spark_reads="through_spark"
    )
    assert warehouse_resource(settings).reads == "through_spark"
    assert warehouse_resource(settings.model_copy(update={"spark_reads": "auto"})).reads == "auto"


class Batches:
    """Spark's stream of ``rows`` in batches of ``size``: counts the scans and batches read."""

    def __init__(self, rows: pa.Table, size: int = 1) -> None:
        self.rows, self.size = rows, size
        self.scans = self.batches = 0

    def __call__(self):
        self.scans += 1
        for batch in self.rows.to_batches(self.size):
            self.batches += 1
            yield batch


def _spark_files(folder: Path) -> SparkTable:
    """``SPARK_ROWS`` as Spark writes them to Parquet (instants as INT96)."""
    folder.mkdir()
    utc = SPARK_ROWS.set_column(0, "sent_at", SPARK_ROWS.column(0).cast(pa.timestamp("us")))
    pq.write_table(utc, folder / "part-0.parquet", use_deprecated_int96_timestamps=True)
    return _table("parquet", f"file:{folder}", name=folder.name)


def _streamed(batches: Batches, name: str = "streamed") -> SparkStream:
    return SparkStream(f"marts.{name}", wall_clock_schema(SPARK_ROWS.schema), batches)


def test_a_stream_reads_as_the_files_do(tmp_path):
    files = _spark_files(tmp_path / "files")
    streamed = _table("delta", "s3a://lake/marts.db/streamed", name="streamed")
    reads = TableReads(streams={"marts.streamed": _streamed(Batches(SPARK_ROWS))})
    with duckdb.connect() as con, spark_catalog(con, [files, streamed], reads):
        described = [
            con.execute(f"select column_name, column_type from (describe marts.{name})").fetchall()
            for name in ("files", "streamed")
        ]
        assert described[0] == described[1]
        assert dict(described[1])["sent_at"] == "TIMESTAMP"
        rows = [
            con.execute(f"from marts.{name} order by n").fetchall()
            for name in ("files", "streamed")
        ]
        assert rows[0] == rows[1]
        assert rows[1][0] == (AT, Decimal("3.25"), date(2025, 6, 30), ["a", "b"], 1)


def test_a_stream_is_read_only_when_scanned_and_anew_at_each_scan():
    batches = Batches(SPARK_ROWS)
    streamed = _table("orc", "file:/x", name="streamed")
    reads = TableReads(streams={"marts.streamed": _streamed(batches)})
    with duckdb.connect() as con, spark_catalog(con, [streamed], reads):
        con.execute("describe marts.streamed")
        con.execute("select table_name from information_schema.tables").fetchall()
        assert batches.scans == 0
        assert con.execute("select count(*) from marts.streamed").fetchall() == [(2,)]
        assert con.execute("select sum(n) from marts.streamed").fetchall() == [(3,)]
        assert batches.scans == 2


def test_a_stream_is_pulled_a_batch_at_a_time():
    many = pa.table({"n": pa.array(range(100_000), pa.int64())})
    batches = Batches(many, size=1_000)
    stream = SparkStream("marts.many", many.schema, batches)
    table = SparkTable("marts", "many", "MANAGED", "delta", None, (("n", "long"),))
    with (
        duckdb.connect() as con,
        spark_catalog(con, [table], TableReads(streams={"marts.many": stream})),
    ):
        assert con.execute("select n from marts.many limit 1").fetchall() == [(0,)]
        assert batches.batches < 100


def test_spark_failing_mid_stream_names_the_table():
    def failing():
        yield SPARK_ROWS.to_batches()[0]
        raise RuntimeError("FAILED_READ_FILE.FILE_NOT_EXIST")

    stream = SparkStream("marts.kpi", wall_clock_schema(SPARK_ROWS.schema), failing)
    reads = TableReads(streams={"marts.kpi": stream})
    with duckdb.connect() as con, spark_catalog(con, [_table("delta", None)], reads):
        with pytest.raises(duckdb.Error, match="marts.kpi could not be read through Spark: FAILED"):
            con.execute("select count(*) from marts.kpi").fetchall()


def test_a_table_read_neither_way_binds_and_fails_by_name_when_read():
    reads = TableReads(unreadable={"marts.kpi": "UNSUPPORTED_DATATYPE interval"})
    with duckdb.connect() as con, spark_catalog(con, [_table("delta", None)], reads):
        columns = con.execute("select column_name from (describe marts.kpi)").fetchall()
        assert [name for (name,) in columns] == [name for name, _ in COLUMNS]
        for query in ("select count(*) from marts.kpi", "select n from marts.kpi"):
            with pytest.raises(
                duckdb.Error, match="marts.kpi cannot be read by connect\\(\\): UNSUP"
            ):
                con.execute(query).fetchall()


def test_a_cursor_with_the_streams_reads_them_too():
    batches = Batches(SPARK_ROWS)
    reads = TableReads(streams={"marts.streamed": _streamed(batches)})
    streamed = _table("delta", None, name="streamed")
    with duckdb.connect() as con, spark_catalog(con, [streamed], reads) as catalog:
        with con.cursor() as plain:
            # The view is there, but not the stream it reads: a connection's own.
            with pytest.raises(duckdb.Error, match="does not exist"):
                plain.execute(f"select count(*) from {catalog}.marts.streamed").fetchall()
        with with_streams(con, reading_cursor(con)) as reader:
            assert reader.execute("select count(*) from marts.streamed").fetchall() == [(2,)]


def test_materialised_streams_are_read_once_whatever_scans_them():
    marts, other = Batches(SPARK_ROWS), Batches(SPARK_ROWS)
    tables = [
        _table("delta", None, name="streamed"),
        SparkTable("staging", "left", "MANAGED", "orc", None, COLUMNS),
    ]
    reads = TableReads(
        streams={
            "marts.streamed": _streamed(marts),
            "staging.left": SparkStream(
                "staging.left", wall_clock_schema(SPARK_ROWS.schema), other
            ),
        }
    )
    with duckdb.connect() as con, spark_catalog(con, tables, reads):
        before = con.execute("from marts.streamed order by n").fetchall()
        assert materialise_streams(con, ["marts"]) == ["marts.streamed"]
        assert marts.scans == 2
        assert con.execute("from marts.streamed order by n").fetchall() == before
        assert con.execute("select sum(n) from marts.streamed").fetchall() == [(3,)]
        with with_streams(con, reading_cursor(con)) as reader:
            assert reader.execute("select count(*) from marts.streamed").fetchall() == [(2,)]
            assert reader.execute("select count(*) from staging.left").fetchall() == [(2,)]
        assert marts.scans == 2
        con.execute("select count(*) from staging.left").fetchall()
        assert other.scans == 2


def test_what_a_connection_read_through_spark_is_summed_by_table():
    scans = [("marts.b", 10, 0.5), ("marts.a", 1_000, 1.25), ("marts.b", 10, 0.25)]
    assert streams_read(scans) == (
        "connect(): 3 reads through Spark, 1,020 rows in 2.00 s: "
        "marts.a 1x 1,000 rows 1.25 s; marts.b 2x 20 rows 0.75 s"
    )
