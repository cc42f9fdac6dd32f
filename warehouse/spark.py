"""The warehouse's tables on Apache Spark, through Arrow: what ``SparkWarehouse``
(``orchestration/defs/resources.py``) does with a SparkSession. Imported only when
``WEIXI_ENGINE=spark``: pyspark is not a dependency of the DuckDB engine.

Tables are plain Spark tables (Parquet under ``spark.sql.warehouse.dir``, or the cluster's
catalog), replaced whole: Parquet has neither DELETE nor MERGE, so :meth:`SparkTables.replace_rows`
reads the rows it keeps into the driver and writes the table again (meant for small tables, the
validation figures)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from warehouse.arrow_batches import rebatched
from warehouse.spark_views import (
    SparkStream,
    SparkTable,
    TableReads,
    control_tables,
    exposed,
    read_through_spark,
    spark_catalog,
    wall_clock_schema,
)
from warehouse.table_spec import TableSpec

_PARAMETER = re.compile(r"\$(\w+)")
WEIXI_DATABASES = (
    "raw",
    "staging",
    "intermediate",
    "features",
    "marts",
    "ml",
    "governance",
    "quality",
    "activation",
)
"""The Spark databases Weixi's tables live in (dbt's models and sources): those
:meth:`SparkTables.exposed_to` shows a DuckDB connection; a cluster's other databases are not."""
_ARROW_SCHEMAS: dict[tuple[str, str], pa.Schema] = {}
"""The Arrow schema of each table streamed to ``connect()``, by name and Spark's schema text."""
_T = TypeVar("_T")
_STALE_FILES = "FAILED_READ_FILE.FILE_NOT_EXIST"
"""Spark's error class for a read of a file its listing of a table holds but the disk no
longer does (the table was rewritten by another session): refreshing the table mends it."""
COPIED_VIEWS = frozenset({"intermediate.int_reference_date__selected"})
"""The Spark views (no files) the Python side reads through ``connect()``, copied as their rows:
the reference date (one row), which the report and the checks read."""


def session(
    master: str, connect_url: str | None, warehouse_dir: str, driver_memory: str
) -> SparkSession:
    """The process's active SparkSession, else a new one: on Spark Connect at ``connect_url``
    when set, else on ``master``. The session time zone is UTC, as the dbt builds' (day
    boundaries and timestamps as DuckDB reads them)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if connect_url:
        return SparkSession.builder.remote(connect_url).getOrCreate()
    return (
        SparkSession.builder.master(master)
        .appName("weixi")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.warehouse.dir", warehouse_dir)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def spark_sql(sql: str) -> str:
    """``sql`` with its ``$name`` parameters (DuckDB's spelling) as Spark's ``:name``."""
    return _PARAMETER.sub(r":\1", sql)


def spark_readable(table: pa.Table) -> pa.Table:
    """``table`` in the Arrow types ``createDataFrame`` takes: dictionary-encoded columns
    decoded, large strings and lists as their 32-bit offset kinds."""
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_list(kind):
            kind = pa.list_(kind.value_type)
        if pa.types.is_list(kind) and pa.types.is_large_string(kind.value_type):
            kind = pa.list_(pa.string())
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))


def wall_clock(table: pa.Table) -> pa.Table:
    """``table`` with Spark's timestamps (instants, in the session's time zone) as the wall-clock
    times DuckDB's ``timestamp`` holds: the Python assets see the same values on both engines."""
    for position, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            local = pc.local_timestamp(table.column(position))
            table = table.set_column(position, field.name, local)
    return table


def arrow_of(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """``frame`` as an Arrow table Spark reads (see :func:`spark_readable`)."""
    if isinstance(frame, pd.DataFrame):
        frame = pa.Table.from_pandas(frame, preserve_index=False)
    return spark_readable(frame)


class SparkTables:
    """Reads and writes of the warehouse's tables on one SparkSession."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> DataFrame:
        return self.spark.sql(spark_sql(sql), args=dict(params or {}))

    def read_arrow(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        views: Mapping[str, pa.Table] | None = None,
    ) -> pa.Table:
        """The rows of ``sql`` (see :meth:`_fresh` for a table another session rewrote)."""
        with self._views(views):
            return self._fresh(lambda: wall_clock(self.query(sql, params).toArrow()))

    def read_batches(
        self, sql: str, params: Mapping[str, object] | None, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The rows of ``sql`` in order, in batches of at most ``batch_rows`` (the types of
        :meth:`read_arrow`): this process holds one batch and the chunk being received, never
        the whole result. On Spark Connect the result comes as the server streams it, in Arrow;
        a classic session gives rows (``toLocalIterator``, one partition at a time), several
        times slower (6.6 times for 2M rows: docs/scale_out.md)."""

        def started() -> tuple[pa.Schema, Iterator[pa.Table]]:
            frame = self.query(sql, params)
            schema = to_arrow_schema(frame.schema, timezone="UTC")
            chunks = _arrow_chunks(frame) if _is_connect(frame) else _row_chunks(frame, schema)
            first = next(chunks, None)  # a stale table fails here, before any row is given
            return schema, chain([] if first is None else [first], chunks)

        schema, chunks = self._fresh(started)
        for batch in rebatched((chunk.cast(schema) for chunk in chunks), batch_rows):
            yield from wall_clock(pa.Table.from_batches([batch])).to_batches()

    def refresh(self, table: str) -> None:
        """Forget what this session knows of ``table``'s files (see :meth:`_fresh`)."""
        self.spark.catalog.refreshTable(table)

    def _fresh(self, read: Callable[[], _T]) -> _T:
        """``read()``, again after refreshing every Weixi table when it failed on a file that
        is gone. A session keeps each table's file listing from its first read; dbt builds in
        sessions of its own and replaces a table's files, after which this session's next read
        of the table fails (FAILED_READ_FILE.FILE_NOT_EXIST) until the table is refreshed.
        Refreshing only on that error keeps the usual read at one round trip."""
        try:
            return read()
        except Exception as error:
            if _STALE_FILES not in str(error):
                raise
        for table in self.catalog_tables():
            if not table.is_view:
                self.refresh(table.qualified)
        return read()

    def table_exists(self, table: str) -> bool:
        return self.spark.catalog.tableExists(table)

    def write_table(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        """Replace ``schema.table`` with ``frame`` (overwrite mode); returns the rows."""
        rows = arrow_of(frame)
        schema = table.split(".")[0]
        self.spark.sql(f"create database if not exists `{schema}`")
        self._data_frame(rows).write.mode("overwrite").saveAsTable(table)
        return rows.num_rows

    def register_parquet(self, table: str, folder: Path) -> None:
        """``schema.table`` as an external table over the partitioned Parquet ``folder``, its
        partitions as they are now: day folders added since are added, removed ones dropped.
        Created once (the catalog then holds every day); a table of that name that is not
        external (copied before the raw table had a Parquet day) is replaced."""
        if self._is_external(table):
            self.spark.sql(f"repair table {table} sync partitions")
            return
        schema = table.split(".")[0]
        self.spark.sql(f"create database if not exists `{schema}`")
        self.spark.sql(f"drop table if exists {table}")
        self.spark.catalog.createTable(table, path=str(folder), source="parquet")
        self.spark.sql(f"alter table {table} recover partitions")

    def _is_external(self, table: str) -> bool:
        if not self.table_exists(table):
            return False
        return self.spark.catalog.getTable(table).tableType == "EXTERNAL"

    def replace_rows(
        self,
        spec: TableSpec,
        frame: pd.DataFrame,
        where: str,
        params: Mapping[str, object] | None = None,
    ) -> None:
        """The rows of ``spec``'s table not selected by ``where``, and ``frame``'s, written as
        the table (read first into the driver: Spark cannot overwrite a table it reads)."""
        new_rows = arrow_of(spec.conform(frame))
        if self.table_exists(spec.name):
            kept = self.read_arrow(
                # Kept as DuckDB's delete keeps them: where ``where`` is false or null.
                f"select {', '.join(spec.column_names)} from {spec.name} "
                f"where not coalesce(({where}), false)",
                params,
            )
            new_rows = pa.concat_tables([kept.cast(new_rows.schema), new_rows])
        self.write_table(spec.name, new_rows)

    def catalog_tables(self, databases: Sequence[str] = WEIXI_DATABASES) -> list[SparkTable]:
        """The tables and views of ``databases`` (those Spark has), not the session's temp
        views: one ``SHOW TABLE EXTENDED`` per database."""
        present = {database.name for database in self.spark.catalog.listDatabases()}
        tables = []
        for database in (name for name in databases if name in present):
            rows = self.spark.sql(f"show table extended in `{database}` like '*'").collect()
            tables += [
                SparkTable.described(database, row.tableName, row.information)
                for row in rows
                if not row.isTemporary
            ]
        return tables

    def time_zone(self) -> str:
        return self.spark.conf.get("spark.sql.session.timeZone")

    @contextmanager
    def exposed_to(
        self,
        con: duckdb.DuckDBPyConnection,
        reads: str = "auto",
        batch_rows: int = 200_000,
        on_read: Callable[[str, int, float], None] | None = None,
    ) -> Iterator[TableReads]:
        """Spark's tables as views in ``con`` (a connection to the control file) under their
        ``schema.table`` names, but those the control file holds itself: local Parquet tables
        over their files, the others (all with ``reads="through_spark"``) streamed through
        Spark in batches of ``batch_rows`` when a query scans them (``warehouse.spark_views``).
        Yields how the tables not read from their files are read."""
        tables = exposed(self.catalog_tables(), control_tables(con), set(COPIED_VIEWS))
        streamed = [
            table for table in tables if not table.is_view and read_through_spark(table, reads)
        ]
        streams, unreadable = {}, {}
        for table in streamed:
            try:
                streams[table.qualified] = self._stream(table, batch_rows, on_read)
            except Exception as error:
                # Whatever Spark's reason, the view fails with it when read (not at connect():
                # one unreadable table must not stop the assets that never read it).
                unreadable[table.qualified] = f"{type(error).__name__}: {error}"
        copies = {
            table.qualified: self._copy(table)
            for table in tables
            if table not in streamed and (table.is_view or not table.has_files())
        }
        table_reads = TableReads(copies, streams, unreadable)
        with spark_catalog(con, tables, table_reads, self.time_zone()):
            yield table_reads

    def _copy(self, table: SparkTable) -> pa.Table:
        """``table``'s rows now (a view's: the tables under it are refreshed on a stale read)."""
        if not table.is_view:
            self.refresh(table.qualified)
        return self.read_arrow(f"select * from {table.qualified}")

    def _stream(
        self,
        table: SparkTable,
        batch_rows: int,
        on_read: Callable[[str, int, float], None] | None,
    ) -> SparkStream:
        """``table`` as a stream of its rows (``read_batches``' types), refreshed before each
        scan: dbt may have replaced its files since this session last read it."""
        quoted = ".".join(f"`{part}`" for part in (table.schema, table.name))

        def batches() -> Iterator[pa.RecordBatch]:
            self.refresh(quoted)
            return self.read_batches(f"select * from {quoted}", None, batch_rows)

        return SparkStream(table.qualified, self._arrow_schema(table, quoted), batches, on_read)

    def _arrow_schema(self, table: SparkTable, quoted: str) -> pa.Schema:
        """The Arrow schema of ``read_batches`` of ``table``: asked of Spark (an analysis,
        nothing read; it fails for a table Spark cannot resolve or whose columns have no Arrow
        type) once per process and schema, as ``connect()`` runs often (four times in the
        exports asset) and each analysis is a round trip (54 tables: 0.8 s locally)."""
        key = (table.qualified, table.schema_tree)
        if not table.schema_tree or key not in _ARROW_SCHEMAS:
            spark_schema = self.spark.table(quoted).schema
            _ARROW_SCHEMAS[key] = wall_clock_schema(to_arrow_schema(spark_schema, timezone="UTC"))
        return _ARROW_SCHEMAS[key]

    def _data_frame(self, rows: pa.Table) -> DataFrame:
        """``rows`` (in types Spark reads) as a DataFrame; without rows too, which Spark Connect
        cannot infer a schema from, so it is given the Arrow schema's (timestamps as Spark's
        `timestamp`, as ``createDataFrame`` infers them from rows by default)."""
        empty = rows.num_rows == 0
        schema = from_arrow_schema(rows.schema, prefer_timestamp_ntz=False) if empty else None
        return self.spark.createDataFrame(rows, schema=schema)

    @contextmanager
    def _views(self, views: Mapping[str, pa.Table] | None) -> Iterator[None]:
        for name, table in (views or {}).items():
            self._data_frame(spark_readable(table)).createOrReplaceTempView(name)
        try:
            yield
        finally:
            for name in views or {}:
                self.spark.catalog.dropTempView(name)


def _is_connect(frame: DataFrame) -> bool:
    from pyspark.sql.connect.dataframe import DataFrame as ConnectDataFrame

    return isinstance(frame, ConnectDataFrame)


def _arrow_chunks(frame: DataFrame) -> Iterator[pa.Table]:
    """``frame``'s rows as the Spark Connect server streams them: Arrow tables of its batch
    size, in order. What ``toLocalIterator`` reads before it makes rows of them (pyspark 4.3)."""
    client = frame.sparkSession.client
    plan = frame._plan
    for chunk in client.to_table_as_iterator(plan.to_proto(client), plan.observations):
        if isinstance(chunk, pa.Table):
            yield chunk


def _row_chunks(
    frame: DataFrame, schema: pa.Schema, rows_per_chunk: int = 10_000
) -> Iterator[pa.Table]:
    """``frame``'s rows through ``toLocalIterator`` (a classic session: one Spark partition at a
    time in the driver), made Arrow tables of ``rows_per_chunk`` rows."""
    rows = frame.toLocalIterator()
    while chunk := [row.asDict(recursive=True) for row in islice(rows, rows_per_chunk)]:
        yield pa.Table.from_pylist(chunk, schema=schema)
