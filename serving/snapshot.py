"""Publishing the marts for BI tools: a separate DuckDB file and Parquet files, swapped in whole.

While a run writes the warehouse, DuckDB lets no other process open it, not even read-only. So
readers get their own copy, prepared beside the current one, audited, then swapped in by an
atomic rename: a reader sees last night's complete copy or tonight's, never half of one, and is
never locked out. A failed run or audit leaves the previous copy in place.

A night changes few of the published rows: the fact tables gain a day and a few corrections. So
a publish starts from the previous copy and rewrites only what changed since. Every table, or for
the large append-mostly tables of ``MONTHLY_PARTITIONS`` every calendar month of it, has a
fingerprint: its row count, the sum of its rows' hashes, its columns, types and descriptions. A
table or month whose fingerprint equals the previous publish's is kept as it is. The previous
DuckDB file is copied to a new file and updated there (readers may hold the old file open, so it
is never written in place); unchanged Parquet files are hard-linked into the new version folder
(a published file is never written again, so versions can share it). With no usable previous
copy (the first publish, a previous copy of another layout, or a DuckDB file and Parquet folder
from different publishes) everything is written from scratch.

Layout of the serving folder::

    weixi.duckdb                  the marts (schema ``marts``), ``serving._snapshot`` and
                                  ``serving._partitions``
    parquet/current -> <version>  symlink, replaced atomically
    parquet/<version>/            ``<table>.parquet`` per mart, ``<table>/<yyyy-mm>.parquet`` per
                                  month of a monthly-partitioned mart, ``_snapshot.parquet``,
                                  ``_partitions.parquet``

The DuckDB file is written in storage version v1.0.0, which every DuckDB since 0.10.0 reads
(BI drivers often bundle an older DuckDB than Weixi's); a file updated in place keeps it. Open it
read-only.

Documentation travels with the data: each table's and column's description (given by the caller,
from dbt's manifest and the table specs) becomes a ``COMMENT ON`` in the DuckDB file, which BI
tools show beside the column, and the ``description`` metadata of the Parquet file's schema and
of each of its fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SERVING_DATABASE = "weixi.duckdb"
PARQUET_FOLDER = "parquet"
CURRENT = "current"
STORAGE_VERSION = "v1.0.0"
"""The oldest storage version DuckDB 2.0 writes that holds every type the marts use; DuckDB
0.10.0 and later read it."""
READABLE_BY = "DuckDB 0.10.0 or later"
PUBLISHED_SCHEMAS = ("marts",)
SNAPSHOT_TABLE = "serving._snapshot"
PARTITIONS_TABLE = "serving._partitions"
"""One row per published table, or per month of a partitioned one: its rows, fingerprint and
Parquet file. The next publish compares its fingerprints with these."""
KEEP_PARQUET_VERSIONS = 3
"""Parquet versions kept: the current one and two before it, for readers still reading them."""
REQUIRED_TABLES = ("marts.customer_360", "marts.fct_orders", "marts.kpi_daily")
"""Tables that are never empty in a shop with orders: an empty one means a broken night."""
MONTHLY_PARTITIONS: Mapping[str, str] = {
    "marts.fct_orders": "delivered_on",
    "marts.fct_order_lines": "delivered_on",
    "marts.segment_history": "snapshot_date",
}
"""The large tables a night mostly appends to, and the date column that splits each by calendar
month: a night rewrites the months it changed (usually the current one), not the history."""
WHOLE_TABLE = "all"
"""The partition name of a table that is not split."""
NO_DATE = "none"
"""The partition holding the rows of a partitioned table whose date is null."""
_TMP = ".tmp-"
_PARTITION_COLUMN = "__weixi_partition"
DESCRIPTION_KEY = "description"
"""The key of a description in the Parquet files' schema and field metadata."""
PARQUET_BATCH_ROWS = 100_000

Descriptions = Mapping[str, tuple[str, Mapping[str, str]]]
"""Per table (``marts.<name>``): its description and ``{column: description}``."""
Fingerprints = dict[tuple[str, str], str]
"""Per (table, partition): the partition's fingerprint."""


class AuditError(Exception):
    """The copy about to be published is incomplete or differs from the warehouse."""


@dataclass(frozen=True)
class Published:
    """What one publish swapped in."""

    version: str
    run_id: str
    published_at: datetime
    tables: dict[str, int]
    """Rows per published table (``marts.<name>``)."""
    database: Path
    database_bytes: int
    parquet: Path
    """The version's Parquet folder (``parquet/current`` points at it)."""
    parquet_bytes: int
    written: list[str]
    """What this publish wrote rather than kept from the previous one: ``marts.<name>`` for a
    table, ``marts.<name>/<yyyy-mm>`` for a month of a partitioned table."""


@dataclass(frozen=True)
class _Table:
    """One warehouse table as tonight's publish sees it."""

    name: str
    date_column: str | None
    """The column its months are cut on; None for a table published whole."""
    partitions: dict[str, tuple[int, str]]
    """Per partition (``yyyy-mm``, ``none``, or ``all``): rows and fingerprint."""

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.partitions.values())

    def parquet_file(self, partition: str) -> str:
        """The partition's file, relative to a Parquet version folder."""
        short = self.name.split(".", 1)[1]
        return f"{short}.parquet" if self.date_column is None else f"{short}/{partition}.parquet"


READABLE_CATALOGS = (
    "(select current_database() union all "
    "select trim(split_part(unnest(string_split(current_setting('search_path'), ',')), '.', 1), "
    "'\"'))"
)
"""SQL of the catalogs whose tables a connection reads by ``schema.table``: its database and
those of its search path (on Spark, the catalog of Spark's tables: warehouse.spark_views), not
the catalogs a step attaches for itself (the publish's serving file)."""


def _literal(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def content_sum(columns: list[str]) -> str:
    """SQL for the sum of the rows' hashes over ``columns``: with the row count, a table's
    content as the publish compares it (0 for no rows)."""
    return f"coalesce(sum(hash({', '.join(_quoted(c) for c in columns)})), 0)"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def published_tables(
    con: duckdb.DuckDBPyConnection, schemas: Iterable[str] = PUBLISHED_SCHEMAS
) -> list[str]:
    """The tables of the warehouse ``con`` that a publish copies (``schema.table``, sorted)."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        f"where table_catalog in {READABLE_CATALOGS} and table_schema in (select unnest(?)) "
        "order by 1",
        [list(schemas)],
    ).fetchall()
    return [name for (name,) in rows]


def parquet_path(version_folder: Path, table: str) -> str:
    """What a reader passes to DuckDB's ``read_parquet`` for ``table`` (``marts.<name>``) in a
    Parquet version folder: its file, or a glob over its monthly files."""
    short = table.split(".", 1)[1]
    single = version_folder / f"{short}.parquet"
    return str(single) if single.exists() else str(version_folder / short / "*.parquet")


def _partition_of_row(date_column: str | None) -> str:
    """The SQL expression naming the partition a row belongs to."""
    if date_column is None:
        return f"'{WHOLE_TABLE}'"
    return f"coalesce(strftime({_quoted(date_column)}, '%Y-%m'), '{NO_DATE}')"


def _partition_filter(date_column: str | None, partitions: Iterable[str]) -> str:
    """A condition selecting the rows of ``partitions``, on plain date ranges so that DuckDB
    skips the row groups of other months by their min/max."""
    if date_column is None:
        return "true"
    column = _quoted(date_column)
    conditions = [
        f"{column} is null"
        if partition == NO_DATE
        else f"({column} >= date '{partition}-01' "
        f"and {column} < date '{partition}-01' + interval 1 month)"
        for partition in sorted(partitions)
    ]
    return " or ".join(conditions) or "false"


def _fingerprinted(
    con: duckdb.DuckDBPyConnection,
    table: str,
    date_column: str | None,
    descriptions: Descriptions,
) -> _Table:
    """``table`` with the fingerprint of each of its partitions: one pass over its rows.

    A row's hash covers every column, so a value changed in place shows as surely as a row
    added or removed; the layout (columns, types, descriptions) is part of every partition's
    fingerprint, so a changed layout rewrites the whole table."""
    schema, name = table.split(".", 1)
    layout = con.execute(
        "select column_name, data_type from information_schema.columns "
        f"where table_catalog in {READABLE_CATALOGS} and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, name],
    ).fetchall()
    columns = [column for column, _ in layout]
    if date_column is not None and date_column not in columns:
        raise AuditError(f"{table} has no column {date_column} to split it by month")
    text, column_texts = descriptions.get(table, ("", {}))
    layout_hash = hashlib.sha256(
        json.dumps([layout, text, sorted(dict(column_texts).items())]).encode()
    ).hexdigest()[:16]
    partition = _partition_of_row(date_column)
    total = f"{content_sum(columns)}::varchar"
    rows = con.execute(
        f"select {partition} as partition, count(*), {total} from {table} group by all"
        if date_column
        else f"select {partition}, count(*), {total} from {table}"
    ).fetchall()
    return _Table(
        name=table,
        date_column=date_column,
        partitions={key: (n, f"{layout_hash}:{n}:{total}") for key, n, total in rows},
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(serving_dir: Path) -> None:
    """Remove the half-written copies of a publish that was killed (only one run publishes at a
    time, so any temporary file is a leftover)."""
    for path in serving_dir.glob(f"{SERVING_DATABASE}{_TMP}*"):
        path.unlink(missing_ok=True)
    parquet = serving_dir / PARQUET_FOLDER
    for path in parquet.glob(f"*{_TMP}*"):
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _previous_fingerprints(
    con: duckdb.DuckDBPyConnection, database: Path, parquet_folder: Path
) -> Fingerprints | None:
    """The fingerprints of the published copy, or None unless the DuckDB file and the current
    Parquet folder both hold them and come from the same publish (a publish killed between
    the two swaps, or a copy written before fingerprints, is rewritten whole)."""
    recorded = parquet_folder / "_partitions.parquet"
    if not database.exists() or not recorded.exists():
        return None
    in_parquet = {
        (row["version"], row["table_name"], row["partition"], row["fingerprint"])
        for row in pq.read_table(recorded).to_pylist()
    }
    con.execute(f"attach {_literal(database)} as _previous (read_only)")
    try:
        in_database = set(
            con.execute(
                "select version, table_name, partition, fingerprint "
                f"from _previous.{PARTITIONS_TABLE}"
            ).fetchall()
        )
    except duckdb.CatalogException:
        return None
    finally:
        con.execute("detach _previous")
    if in_database != in_parquet or len({version for version, *_ in in_database}) != 1:
        return None
    return {(table, partition): fingerprint for _, table, partition, fingerprint in in_database}


def _to_write(table: _Table, previous: Fingerprints) -> set[str]:
    """The partitions of ``table`` whose fingerprint differs from the previous publish's."""
    return {
        key
        for key, (_, fingerprint) in table.partitions.items()
        if previous.get((table.name, key)) != fingerprint
    }


def _comment(
    con: duckdb.DuckDBPyConnection, table: str, descriptions: Descriptions, columns: list[str]
) -> None:
    table_text, column_texts = descriptions.get(table, ("", {}))
    if table_text:
        con.execute(f"comment on table _serving.{table} is {_literal(table_text)}")
    for column in columns:
        if column_texts.get(column):
            con.execute(
                f"comment on column _serving.{table}.{_quoted(column)} "
                f"is {_literal(column_texts[column])}"
            )


def _write_database(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    tables: list[_Table],
    previous: Fingerprints,
    records: Mapping[str, pa.Table],
    descriptions: Descriptions,
) -> None:
    """Bring the DuckDB file at ``path`` (a copy of the published one holding ``previous``, or
    a new file when ``previous`` is empty) to tonight's tables: a table none of whose
    partitions is kept is created anew; otherwise its changed and vanished partitions are
    deleted and the changed ones inserted."""
    options = "" if previous else f" (storage_version '{STORAGE_VERSION}')"
    con.execute(f"attach {_literal(path)} as _serving{options}")
    try:
        con.execute("begin")
        current = {table.name for table in tables}
        for name in sorted({name for name, _ in previous} - current):
            con.execute(f"drop table if exists _serving.{name}")
        for schema in sorted({t.name.split(".")[0] for t in tables} | {"serving"}):
            con.execute(f"create schema if not exists _serving.{schema}")
        for table in tables:
            before = {key for name, key in previous if name == table.name}
            changed = _to_write(table, previous)
            gone = before - table.partitions.keys()
            if not before - changed - gone:
                con.execute(f"create or replace table _serving.{table.name} as from {table.name}")
                columns = [d[0] for d in con.execute(f"from {table.name} limit 0").description]
                _comment(con, table.name, descriptions, columns)
                continue
            if changed | gone:
                con.execute(
                    f"delete from _serving.{table.name} "
                    f"where {_partition_filter(table.date_column, changed | gone)}"
                )
            if changed:
                con.execute(
                    f"insert into _serving.{table.name} from {table.name} "
                    f"where {_partition_filter(table.date_column, changed)}"
                )
        for name, rows in records.items():
            con.register("_records", rows)
            con.execute(f"create or replace table _serving.{name} as from _records")
            con.unregister("_records")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("detach _serving")


def _documented(schema: pa.Schema, table: str, descriptions: Descriptions) -> pa.Schema:
    table_text, column_texts = descriptions.get(table, ("", {}))
    fields = [
        field.with_metadata({DESCRIPTION_KEY: column_texts[field.name]})
        if column_texts.get(field.name)
        else field
        for field in schema
    ]
    return pa.schema(fields, metadata={DESCRIPTION_KEY: table_text} if table_text else None)


def reading_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of ``con`` (a connection of its own) with ``con``'s search path, through which
    ``con`` may read some tables (Spark's, on the Spark engine)."""
    reader = con.cursor()
    ((path,),) = con.execute("select current_setting('search_path')").fetchall()
    if path:
        reader.execute(f"set search_path = {_literal(path)}")
    return reader


def _write_partitions(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    table: _Table,
    partitions: set[str],
    descriptions: Descriptions,
) -> None:
    """Write the files of ``partitions`` of ``table`` in one pass over its rows: a table
    loaded in one go is not stored in date order, so a query per month would read it all each
    time. Each month's rows are gathered into row groups of ``PARQUET_BATCH_ROWS``."""
    partition = _partition_of_row(table.date_column)
    batches = con.sql(
        f"select *, {partition} as {_PARTITION_COLUMN} from {table.name} "
        f"where {_partition_filter(table.date_column, partitions)}"
    ).to_arrow_reader(PARQUET_BATCH_ROWS)
    schema = _documented(
        batches.schema.remove(batches.schema.get_field_index(_PARTITION_COLUMN)),
        table.name,
        descriptions,
    )
    writers: dict[str, pq.ParquetWriter] = {}
    pending: dict[str, list[pa.Table]] = {key: [] for key in partitions}

    def flush(key: str) -> None:
        if key not in writers:
            writers[key] = pq.ParquetWriter(
                folder / table.parquet_file(key), schema, compression="zstd"
            )
        rows = pa.concat_tables(pending[key]) if pending[key] else schema.empty_table()
        writers[key].write_table(rows)
        pending[key] = []

    try:
        for batch in batches:
            keys = batch.column(_PARTITION_COLUMN)
            rows = pa.Table.from_batches([batch]).drop_columns(_PARTITION_COLUMN)
            present = pc.unique(keys).to_pylist()
            for key in present:
                pending[key].append(rows if len(present) == 1 else rows.filter(pc.equal(keys, key)))
                if sum(len(t) for t in pending[key]) >= PARQUET_BATCH_ROWS:
                    flush(key)
        for key in sorted(partitions):
            if pending[key] or key not in writers:
                flush(key)
    finally:
        for writer in writers.values():
            writer.close()


def _write_parquet(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    tables: list[_Table],
    previous: Fingerprints,
    previous_folder: Path,
    records: Mapping[str, pa.Table],
    descriptions: Descriptions,
) -> None:
    """Write tonight's Parquet version ``folder``: the changed partitions anew, the others
    hard-linked from ``previous_folder``."""
    # pyarrow writes the file rather than DuckDB's COPY, which can set key-value metadata on
    # the file but not on a field; batches keep a large mart out of memory.
    folder.mkdir(parents=True)
    for table in tables:
        changed = _to_write(table, previous)
        if table.date_column is not None:
            (folder / table.name.split(".", 1)[1]).mkdir()
        for key in table.partitions.keys() - changed:
            os.link(previous_folder / table.parquet_file(key), folder / table.parquet_file(key))
        if changed:
            _write_partitions(con, folder, table, changed, descriptions)
    for name, rows in records.items():
        pq.write_table(rows, folder / f"{name.split('.', 1)[1]}.parquet")


def _parquet_rows(con: duckdb.DuckDBPyConnection, folder: Path, table: _Table) -> int:
    if table.date_column is not None and not table.partitions:
        return 0
    path = parquet_path(folder, table.name)
    return con.execute("select count(*) from read_parquet(?)", [path]).fetchone()[0]


def _audit(
    con: duckdb.DuckDBPyConnection, database: Path, parquet: Path, tables: list[_Table]
) -> None:
    """Raise AuditError unless the copies hold exactly the rows of the warehouse."""
    con.execute(f"attach {_literal(database)} as _check (read_only)")
    try:
        copied = {
            table.name: con.execute(f"select count(*) from _check.{table.name}").fetchone()[0]
            for table in tables
        }
        stray = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = '_check' and table_schema != 'serving'"
        ).fetchall()
    finally:
        con.execute("detach _check")
    written = {table.name: _parquet_rows(con, parquet, table) for table in tables}
    wrong = [
        f"{table.name} (warehouse {table.rows:,}, serving file {copied[table.name]:,}, "
        f"Parquet {written[table.name]:,})"
        for table in tables
        if copied[table.name] != table.rows or written[table.name] != table.rows
    ]
    wrong += [f"{name} (not in the warehouse)" for (name,) in stray if name not in copied]
    if wrong:
        raise AuditError(f"the copy differs from the warehouse: {'; '.join(wrong)}")


def _swap_parquet(parquet_root: Path, staged: Path, version: str, run_id: str) -> Path:
    final = parquet_root / version
    os.rename(staged, final)
    link = parquet_root / f"{CURRENT}{_TMP}{run_id}"
    link.unlink(missing_ok=True)
    os.symlink(version, link)
    current = parquet_root / CURRENT
    if current.is_dir() and not current.is_symlink():
        # A copy of the serving folder that followed links (`cp -r`) holds a version here
        # itself; kept under a name that sorts as the oldest version, so it is pruned below.
        os.rename(current, parquet_root / f"00000000T000000-copied-{run_id}")
    os.replace(link, current)
    versions = sorted(
        p
        for p in parquet_root.iterdir()
        if p.is_dir() and not p.is_symlink() and _TMP not in p.name
    )
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _records(
    tables: list[_Table], run_id: str, version: str, published_at: datetime
) -> dict[str, pa.Table]:
    """``serving._snapshot`` (one row per table) and ``serving._partitions`` (one per
    partition) of tonight's publish."""
    parts = [(table, key) for table in tables for key in table.partitions]
    return {
        SNAPSHOT_TABLE: pa.table(
            {
                "run_id": [run_id] * len(tables),
                "version": [version] * len(tables),
                "published_at": pa.array([published_at] * len(tables), pa.timestamp("us")),
                "table_name": [table.name for table in tables],
                "row_count": pa.array([table.rows for table in tables], pa.int64()),
            }
        ),
        PARTITIONS_TABLE: pa.table(
            {
                "version": [version] * len(parts),
                "table_name": [table.name for table, _ in parts],
                "partition": [key for _, key in parts],
                "row_count": pa.array([table.partitions[key][0] for table, key in parts]),
                "fingerprint": [table.partitions[key][1] for table, key in parts],
                "parquet_file": [table.parquet_file(key) for table, key in parts],
            }
        ),
    }


def publish(
    con: duckdb.DuckDBPyConnection,
    serving_dir: Path,
    run_id: str,
    required: Iterable[str] = REQUIRED_TABLES,
    schemas: Iterable[str] = PUBLISHED_SCHEMAS,
    descriptions: Descriptions | None = None,
    partitions: Mapping[str, str] = MONTHLY_PARTITIONS,
    second_reader: Callable[[duckdb.DuckDBPyConnection], duckdb.DuckDBPyConnection] = (
        reading_cursor
    ),
) -> Published:
    """Publish every table of ``schemas`` from the warehouse ``con`` as a new serving database
    and a new Parquet folder, audit both, then swap them in. Each table and column named in
    ``descriptions`` carries its description into both copies. The tables named in
    ``partitions`` are split by calendar month of the given date column. Only the tables (and
    months) that changed since the previous publish are written; the rest is kept from it.
    The Parquet files are read through ``second_reader(con)``, which must read what ``con``
    reads.

    Raises AuditError, leaving the published copies as they were, when a ``required`` table is
    missing or empty, or a copy does not hold the warehouse's rows."""
    descriptions = descriptions or {}
    serving_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(serving_dir)
    tables = [
        _fingerprinted(con, name, partitions.get(name), descriptions)
        for name in published_tables(con, schemas)
    ]
    counts = {table.name: table.rows for table in tables}
    missing = [t for t in required if t not in counts]
    empty = [t for t in required if counts.get(t) == 0]
    if missing or empty:
        raise AuditError(
            "not publishing: "
            + "; ".join(
                part
                for part in (
                    missing and f"missing table(s) {', '.join(missing)}",
                    empty and f"empty table(s) {', '.join(empty)}",
                )
                if part
            )
        )
    published_at = datetime.now().replace(microsecond=0)
    version = f"{published_at:%Y%m%dT%H%M%S}-{run_id[:8]}"
    records = _records(tables, run_id, version, published_at)
    database = serving_dir / SERVING_DATABASE
    parquet_root = serving_dir / PARQUET_FOLDER
    previous_folder = Path(os.path.realpath(parquet_root / CURRENT))
    previous = _previous_fingerprints(con, database, previous_folder) or {}
    staged_db = serving_dir / f"{SERVING_DATABASE}{_TMP}{run_id}"
    staged_parquet = parquet_root / f"{version}{_TMP}{run_id}"
    try:
        # The Parquet files are written by a second connection while the DuckDB file is
        # copied and updated: pyarrow's writer is single-threaded, and the copy waits on disk.
        with ThreadPoolExecutor(max_workers=1) as pool, second_reader(con) as reader:
            parquet_written = pool.submit(
                _write_parquet,
                reader,
                staged_parquet,
                tables,
                previous,
                previous_folder,
                records,
                descriptions,
            )
            try:
                if previous:
                    shutil.copyfile(database, staged_db)
                _write_database(con, staged_db, tables, previous, records, descriptions)
                parquet_written.result()
            except BaseException:
                reader.interrupt()
                raise
        _audit(con, staged_db, staged_parquet, tables)
        _fsync(staged_db)
    except BaseException:
        staged_db.unlink(missing_ok=True)
        shutil.rmtree(staged_parquet, ignore_errors=True)
        raise
    os.replace(staged_db, database)
    _fsync(serving_dir)
    parquet = _swap_parquet(parquet_root, staged_parquet, version, run_id)
    return Published(
        version=version,
        run_id=run_id,
        published_at=published_at,
        tables=counts,
        database=database,
        database_bytes=database.stat().st_size,
        parquet=parquet,
        parquet_bytes=_folder_bytes(parquet),
        written=[
            table.name if table.date_column is None else f"{table.name}/{key}"
            for table in tables
            for key in sorted(_to_write(table, previous))
        ],
    )
