"""Spark's tables in a DuckDB connection: what ``SparkWarehouse.connect()`` gives the assets that
run DuckDB SQL (activation, publish, checks, report), so they run unchanged on Spark.

The connection is DuckDB's, to the control file (the loader's raw copy, the consent ledger, the
check results, the activation logs); Spark's tables appear beside its own under their
``schema.table`` names, as views over their Parquet files read by DuckDB's ``read_parquet``
(partitioned tables with hive partitioning). No pyspark here: ``warehouse.spark`` lists the
tables (:class:`SparkTable`) and this module makes the views.

- **Where.** The views live in an in-memory catalog attached for one connection
  (:func:`spark_catalog`), never in the control file: persisted views would outlive the run and
  point at files Spark replaces. DuckDB resolves ``schema.table`` through the connection's
  search path, which lists the control file's schema before the Spark catalog's of the same
  name: a table the control file holds wins, and whatever an asset creates lands in the control
  file (the first catalog of the path). Spark tables the control file holds itself (the raw
  copy, and the tables the Python side writes that Spark holds as copies) are not exposed.
- **Types.** Spark writes ``timestamp`` columns as instants (Parquet INT96 by default, read by
  DuckDB as a UTC ``timestamp``; or TIMESTAMP_MICROS adjusted to UTC, read as ``timestamptz``):
  the views give them as the wall-clock ``timestamp`` in Spark's session time zone, as
  ``SparkWarehouse.read_arrow`` does (``warehouse.spark.wall_clock``). Nested timestamps
  (inside lists or structs) are left as read. Decimals, dates, booleans, strings and lists are
  read as written.
- **No files.** A Spark view (dbt's view models) has no files: only the views of
  ``COPIED_VIEWS`` are exposed, copied as their rows through Spark (the reference date, one
  row); a table without a data file yet (a partitioned table with no partition) likewise.
- **Local Parquet, else through Spark.** A Parquet table in a local (or mounted) folder this
  machine has is read from its files by DuckDB: the fast path. Any other table (in object
  storage, ``s3a://``, ``abfss://``, ``dbfs:/``, ``hdfs://``; or stored as Delta, Iceberg, ORC,
  JSON ...), and every table when the setting ``spark_reads`` is ``through_spark``, is a
  view over a :class:`SparkStream`: the rows of ``select *`` from the table as Spark Connect
  streams them in Arrow (``SparkTables.read_batches``, the same types as the files' views),
  pulled by DuckDB a batch at a time. Nothing runs on Spark until a query scans the view: a
  table no query reads is never copied. A table Spark cannot describe (or whose columns have no
  Arrow type) is a view that fails, naming the table and why, when it is read
  (:func:`unreadable_select`).

Why streams read at each scan (and not (a) placeholders filled on first use, nor (b) a list of
the tables each caller reads): DuckDB scans a registered object with ``__arrow_c_stream__`` by
calling it once per scan and binds its view from ``__arrow_c_schema__`` alone, so the view is
lazy without parsing any SQL and without the callers naming what they read (the activation,
publish, report and checks assets read whatever marts their SQL names, publish every table of
``marts``); and nothing is held between scans, so memory stays bounded by a batch. The cost is
that a table read twice is streamed twice (publish reads each mart several times: its
fingerprints, then each changed table or month): measured in docs/scale_out.md.
Registered objects are the connection's own: a cursor sees the views but not their streams,
so a second reader is given them with :func:`with_streams`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

UTC = "UTC"
_FIELD = re.compile(r"^ \|-- (?P<name>[^:]+): (?P<type>[a-z_]+)")
_HIVE_TYPES = {
    "date": "DATE",
    "string": "VARCHAR",
    "integer": "INTEGER",
    "long": "BIGINT",
    "short": "SMALLINT",
    "byte": "TINYINT",
    "boolean": "BOOLEAN",
}
"""DuckDB's type of each simple Spark type: of a partition column (the folder names are text),
and of an unreadable table's columns (others as text)."""
SparkReads = Literal["auto", "through_spark"]
SPARK_READS: tuple[str, ...] = get_args(SparkReads)
"""How ``connect()`` reads Spark's tables (the setting ``spark_reads``): ``auto``, a local
Parquet table from its files and any other through Spark; ``through_spark``, every table."""
_STREAMS: dict[int, dict[str, tuple[str, SparkStream]]] = {}
"""The streams registered on each open connection (by ``id``), each by its registered name with
the view that reads it, for :func:`with_streams` and :func:`materialise_streams`."""


class UnreadableSparkTable(ValueError):
    """A Spark table DuckDB cannot read here: not from its files (not local, or not Parquet),
    or not through Spark."""


@dataclass(frozen=True)
class SparkTable:
    """A table or view of Spark's catalog, as ``SHOW TABLE EXTENDED`` describes it."""

    schema: str
    name: str
    kind: str
    """``MANAGED``, ``EXTERNAL`` or ``VIEW``."""
    provider: str | None
    location: str | None
    columns: tuple[tuple[str, str], ...]
    """Each top-level column and its Spark type (``timestamp``, ``decimal``, ``array`` ...)."""
    partition_columns: tuple[str, ...] = ()
    schema_tree: str = ""
    """Spark's whole schema as ``SHOW TABLE EXTENDED`` prints it (nested and decimal types
    included): the same text, the same schema."""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def is_view(self) -> bool:
        return self.kind == "VIEW"

    @property
    def instant_columns(self) -> list[str]:
        """The columns Spark holds as instants (its ``timestamp``, not ``timestamp_ntz``)."""
        return [name for name, kind in self.columns if kind == "timestamp"]

    @classmethod
    def described(cls, schema: str, name: str, information: str) -> SparkTable:
        """The table of one row of ``SHOW TABLE EXTENDED`` (its ``information`` text)."""
        fields = dict(_fields(information))
        columns = tuple(
            (found["name"].strip(), found["type"])
            for line in information.splitlines()
            if (found := _FIELD.match(line))
        )
        partitions = fields.get("Partition Columns", "").strip("[]")
        return cls(
            schema=schema,
            name=name,
            kind=fields.get("Type", "").upper(),
            provider=fields.get("Provider", "").lower() or None,
            location=fields.get("Location"),
            columns=columns,
            partition_columns=tuple(
                column.strip().strip("`") for column in partitions.split(",") if column.strip()
            ),
            schema_tree="\n".join(
                line for line in information.splitlines() if line.startswith(" |")
            ),
        )

    @property
    def is_local_parquet(self) -> bool:
        """Whether DuckDB can read the table's own files: Parquet in a folder this machine has
        (a path of the cluster's own, such as a mount only its nodes have, is not)."""
        folder = _local_path(self.location)
        return self.provider == "parquet" and folder is not None and folder.is_dir()

    def local_folder(self) -> Path:
        """The local folder of the table's files; refuses any other location or format."""
        if self.provider != "parquet":
            raise UnreadableSparkTable(
                f"{self.qualified} is stored as {self.provider or 'an unknown format'}: "
                "DuckDB reads Parquet files only (connect() reads it through Spark)"
            )
        folder = _local_path(self.location)
        if folder is None:
            raise UnreadableSparkTable(
                f"{self.qualified} is at {self.location}: not a local (or mounted) path "
                "(connect() reads it through Spark)"
            )
        return folder

    def files_glob(self) -> str:
        """The glob of the table's data files: one folder level per partition column (named
        ``column=value``, so the loader's hidden ``.incoming-`` folders are skipped)."""
        levels = ["*=*"] * len(self.partition_columns)
        return str(Path(self.local_folder(), *levels, "*.parquet"))

    def has_files(self) -> bool:
        folder = self.local_folder()
        pattern = str(Path(self.files_glob()).relative_to(folder))
        return next(folder.glob(pattern), None) is not None


def _local_path(location: str | None) -> Path | None:
    """The local path of a table's ``location``, or None for remote storage."""
    parsed = urlparse(location or "")
    if parsed.scheme not in ("", "file") or not parsed.path:
        return None
    return Path(unquote(parsed.path))


def read_through_spark(table: SparkTable, reads: str) -> bool:
    """Whether ``connect()`` reads ``table`` through Spark rather than from its files, as
    ``reads`` (one of :data:`SPARK_READS`) says."""
    if reads not in SPARK_READS:
        raise ValueError(f"spark_reads must be one of {', '.join(SPARK_READS)}, not {reads!r}")
    return reads == "through_spark" or not table.is_local_parquet


class SparkStream:
    """One Spark table as DuckDB scans it: ``batches()`` is called anew at each scan (nothing
    runs on Spark before), its batches cast to ``schema``, which DuckDB binds the view with.
    ``on_read(table, rows, seconds)`` is told of each scan read to the end; an error of Spark's
    is raised naming the table."""

    def __init__(
        self,
        table: str,
        schema: pa.Schema,
        batches: Callable[[], Iterable[pa.RecordBatch]],
        on_read: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.table = table
        self.schema = schema
        self.batches = batches
        self.on_read = on_read

    def __arrow_c_schema__(self) -> object:
        return self.schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        reader = pa.RecordBatchReader.from_batches(self.schema, self._scan())
        return reader.__arrow_c_stream__(requested_schema)

    def _scan(self) -> Iterator[pa.RecordBatch]:
        started, rows = time.perf_counter(), 0
        try:
            for batch in self.batches():
                rows += batch.num_rows
                yield batch.cast(self.schema)
        except Exception as error:
            raise UnreadableSparkTable(
                f"{self.table} could not be read through Spark: {error}"
            ) from error
        if self.on_read is not None:
            self.on_read(self.table, rows, time.perf_counter() - started)


def wall_clock_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its instants as ``warehouse.spark.wall_clock`` gives them (no zone)."""
    return pa.schema(
        column.with_type(pa.timestamp(column.type.unit))
        if pa.types.is_timestamp(column.type) and column.type.tz is not None
        else column
        for column in schema
    )


def unreadable_select(table: SparkTable, why: str) -> str:
    """The ``select`` of a view that has ``table``'s columns (so queries over it bind) and
    fails when read, naming the table and ``why`` (the filter keeps ``count(*)`` from
    answering without reading it)."""
    columns = table.columns or (("unreadable", "string"),)
    selected = ", ".join(
        f"cast(null as {_HIVE_TYPES.get(kind, 'VARCHAR')}) as {_quoted(name)}"
        for name, kind in columns
    )
    message = f"{table.qualified} cannot be read by connect(): {why}"
    return f"select {selected} from range(1) where error({_literal(message)}) is null"


def _fields(information: str) -> Iterator[tuple[str, str]]:
    for line in information.splitlines():
        key, separator, value = line.partition(": ")
        if separator and not line.startswith(" "):
            yield key.strip(), value.strip()


def exposed(
    tables: Iterable[SparkTable], own: set[str], copied_views: set[str]
) -> list[SparkTable]:
    """The tables of ``tables`` a connection shows: not those whose ``schema.table`` the control
    file holds itself (``own``), and of the views only ``copied_views``."""
    return [
        table
        for table in tables
        if table.qualified not in own and (not table.is_view or table.qualified in copied_views)
    ]


def control_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The ``schema.table`` names of the control file's own tables and views."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database()"
    ).fetchall()
    return {name for (name,) in rows}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_select(con: duckdb.DuckDBPyConnection, table: SparkTable, time_zone: str = UTC) -> str:
    """The ``select`` of ``table``'s rows from its Parquet files, its instants as wall-clock
    timestamps in ``time_zone`` (Spark's session time zone)."""
    options = ["hive_partitioning = false"]
    if table.partition_columns:
        kinds = dict(table.columns)
        hive_types = ", ".join(
            f"{_literal(column)}: {_HIVE_TYPES[kinds[column]]}"
            for column in table.partition_columns
            if kinds.get(column) in _HIVE_TYPES
        )
        options = ["hive_partitioning = true"]
        if hive_types:
            options.append(f"hive_types = {{{hive_types}}}")
    scan = f"read_parquet({_literal(table.files_glob())}, {', '.join(options)})"
    described = con.execute(f"select column_name, column_type from (describe from {scan})")
    read_types = dict(described.fetchall())
    replaced = [
        f"{_wall_clock(_quoted(column), read_types.get(column, ''), time_zone)} as "
        f"{_quoted(column)}"
        for column in table.instant_columns
        if read_types.get(column, "").startswith("TIMESTAMP")
        and not (read_types[column] == "TIMESTAMP" and time_zone == UTC)
    ]
    return f"select * replace ({', '.join(replaced)}) from {scan}" if replaced else f"from {scan}"


def _wall_clock(column: str, read_type: str, time_zone: str) -> str:
    """``column``, an instant read as ``read_type``, as the wall-clock time in ``time_zone``:
    a ``timestamptz`` as it is, an INT96 ``timestamp`` (naive, in UTC) first made an instant."""
    instant = column if "TIME ZONE" in read_type else f"timezone({_literal(UTC)}, {column})"
    return f"timezone({_literal(time_zone)}, {instant})"


@dataclass(frozen=True)
class TableReads:
    """How a connection gets the tables that are not views over their files, by ``schema.table``:
    their rows copied, a stream through Spark, or the reason they cannot be read."""

    copies: Mapping[str, pa.Table] = field(default_factory=dict)
    streams: Mapping[str, SparkStream] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def spark_catalog(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[SparkTable],
    reads: TableReads,
    time_zone: str = UTC,
) -> Iterator[str]:
    """Attach an in-memory catalog to ``con`` holding a view of each table of ``tables`` (over
    its files, or as ``reads`` says), and put its schemas in the search path after the control
    file's; undone on exit. Yields the catalog's name."""
    catalog = f"spark_{uuid.uuid4().hex[:12]}"
    tables = list(tables)
    registered = _STREAMS.setdefault(id(con), {})
    # Writable even when the control file is opened read-only.
    con.execute(f"attach ':memory:' as {catalog} (read_only false)")
    try:
        for schema in sorted({table.schema for table in tables}):
            con.execute(f"create schema {catalog}.{_quoted(schema)}")
        for position, table in enumerate(tables):
            target = f"{catalog}.{_quoted(table.schema)}.{_quoted(table.name)}"
            if table.qualified in reads.streams:
                stream_name = f"_{catalog}_{position}"
                con.register(stream_name, reads.streams[table.qualified])
                registered[stream_name] = (target, reads.streams[table.qualified])
                con.execute(f"create view {target} as from {stream_name}")
            elif table.qualified in reads.unreadable:
                why = reads.unreadable[table.qualified]
                con.execute(f"create view {target} as {unreadable_select(table, why)}")
            elif table.qualified in reads.copies:
                _copy(con, target, reads.copies[table.qualified])
            else:
                con.execute(f"create view {target} as {parquet_select(con, table, time_zone)}")
        con.execute(f"set search_path = {_literal(_search_path(con, catalog, tables))}")
        yield catalog
    finally:
        con.execute("reset search_path")
        con.execute(f"detach {catalog}")
        for stream_name in registered:
            con.unregister(stream_name)
        _STREAMS.pop(id(con), None)


def with_streams(
    con: duckdb.DuckDBPyConnection, cursor: duckdb.DuckDBPyConnection
) -> duckdb.DuckDBPyConnection:
    """``cursor`` (a second connection to ``con``'s database) with the streams
    :func:`spark_catalog` registered on ``con``, so that it reads the streamed tables too (a
    connection's registered objects are its own); the search path is the caller's to give."""
    for stream_name, (_view, stream) in _STREAMS.get(id(con), {}).items():
        cursor.register(stream_name, stream)
    return cursor


def materialise_streams(con: duckdb.DuckDBPyConnection, schemas: Iterable[str]) -> list[str]:
    """Replace each view of ``con``'s Spark catalog that streams a table of ``schemas`` with a
    table of its rows, read through Spark once; returns those tables (``schema.table``). For a
    caller that scans every table several times, as publish does (its fingerprints, then the
    serving file and the Parquet files of each changed table): one read of each instead of up
    to three. The rows live in the catalog's in-memory database (DuckDB spills them to its temp
    directory beyond its memory limit) until ``spark_catalog`` ends; a cursor of ``con`` reads
    them too."""
    wanted, done = set(schemas), []
    for stream_name, (view, stream) in _STREAMS.get(id(con), {}).items():
        if stream.table.split(".", 1)[0] in wanted:
            con.execute(f"drop view {view}")
            con.execute(f"create table {view} as from {stream_name}")
            done.append(stream.table)
    return sorted(done)


def _copy(con: duckdb.DuckDBPyConnection, target: str, rows: pa.Table) -> None:
    con.register("_spark_rows", rows)
    try:
        con.execute(f"create table {target} as from _spark_rows")
    finally:
        con.unregister("_spark_rows")


def _search_path(con: duckdb.DuckDBPyConnection, catalog: str, tables: list[SparkTable]) -> str:
    """The control file's ``main`` and, for each schema of ``tables``, the control file's
    schema then the Spark catalog's. DuckDB creates a ``schema.table`` in the first catalog of
    the path holding the schema, so the control file gets each schema first (a read-only
    connection, which writes nothing, lists those it has)."""
    control = con.execute("select current_database()").fetchone()[0]
    schemas = sorted({table.schema for table in tables})
    writable = not con.execute(
        "select readonly from duckdb_databases() where database_name = current_database()"
    ).fetchone()[0]
    if writable:
        for schema in schemas:
            con.execute(f"create schema if not exists {_quoted(control)}.{_quoted(schema)}")
    held = {
        schema
        for (schema,) in con.execute(
            "select schema_name from duckdb_schemas() where database_name = current_database()"
        ).fetchall()
    }
    entries = [f"{_quoted(control)}.main"]
    for schema in schemas:
        if schema in held:
            entries.append(f"{_quoted(control)}.{_quoted(schema)}")
        entries.append(f"{catalog}.{_quoted(schema)}")
    return ",".join(entries)
