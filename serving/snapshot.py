"""Publishing the marts for BI tools: a separate DuckDB file and Parquet files, swapped in whole.

While a run writes the warehouse, DuckDB lets no other process open it, not even read-only. So
readers get their own copy, written in full beside the current one, audited, then swapped in by
an atomic rename: a reader sees last night's complete copy or tonight's, never half of one, and
is never locked out. A failed run or audit leaves the previous copy in place.

Layout of the serving folder::

    weixi.duckdb                  the marts (schema ``marts``) and ``serving._snapshot``
    parquet/current -> <version>  symlink, replaced atomically
    parquet/<version>/            one ``<table>.parquet`` per mart, ``_snapshot.parquet``

The DuckDB file is written in storage version v1.0.0, which every DuckDB since 0.10.0 reads
(BI drivers often bundle an older DuckDB than Weixi's). Open it read-only.

Documentation travels with the data: each table's and column's description (given by the caller,
from dbt's manifest and the table specs) becomes a ``COMMENT ON`` in the DuckDB file, which BI
tools show beside the column, and the ``description`` metadata of the Parquet file's schema and
of each of its fields.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
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
KEEP_PARQUET_VERSIONS = 3
"""Parquet versions kept: the current one and two before it, for readers still reading them."""
REQUIRED_TABLES = ("marts.customer_360", "marts.fct_orders", "marts.kpi_daily")
"""Tables that are never empty in a shop with orders: an empty one means a broken night."""
_TMP = ".tmp-"
DESCRIPTION_KEY = "description"
"""The key of a description in the Parquet files' schema and field metadata."""
PARQUET_BATCH_ROWS = 100_000

Descriptions = Mapping[str, tuple[str, Mapping[str, str]]]
"""Per table (``marts.<name>``): its description and ``{column: description}``."""


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


def _literal(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def published_tables(
    con: duckdb.DuckDBPyConnection, schemas: Iterable[str] = PUBLISHED_SCHEMAS
) -> list[str]:
    """The tables of the warehouse ``con`` that a publish copies (``schema.table``, sorted)."""
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema in (select unnest(?)) "
        "order by 1",
        [list(schemas)],
    ).fetchall()
    return [name for (name,) in rows]


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"select count(*) from {relation}").fetchone()[0]


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


def _comment(
    con: duckdb.DuckDBPyConnection, table: str, descriptions: Descriptions, columns: list[str]
) -> None:
    table_text, column_texts = descriptions.get(table, ("", {}))
    if table_text:
        con.execute(f"comment on table _serving.{table} is {_literal(table_text)}")
    for column in columns:
        if column_texts.get(column):
            con.execute(
                f'comment on column _serving.{table}."{column}" is {_literal(column_texts[column])}'
            )


def _write_database(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    tables: list[str],
    snapshot: pa.Table,
    descriptions: Descriptions,
) -> None:
    con.execute(f"attach {_literal(path)} as _serving (storage_version '{STORAGE_VERSION}')")
    try:
        for schema in sorted({t.split(".")[0] for t in tables} | {"serving"}):
            con.execute(f"create schema _serving.{schema}")
        for table in tables:
            con.execute(f"create table _serving.{table} as select * from {table}")
            columns = [d[0] for d in con.execute(f"select * from {table} limit 0").description]
            _comment(con, table, descriptions, columns)
        con.register("_snapshot_rows", snapshot)
        con.execute(f"create table _serving.{SNAPSHOT_TABLE} as select * from _snapshot_rows")
        con.unregister("_snapshot_rows")
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


def _write_parquet(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    tables: list[str],
    snapshot: pa.Table,
    descriptions: Descriptions,
) -> None:
    # pyarrow writes the file rather than DuckDB's COPY, which can set key-value metadata on
    # the file but not on a field; batches keep a large mart out of memory.
    folder.mkdir(parents=True)
    for table in tables:
        target = folder / f"{table.split('.', 1)[1]}.parquet"
        batches = con.sql(f"select * from {table}").to_arrow_reader(PARQUET_BATCH_ROWS)
        schema = _documented(batches.schema, table, descriptions)
        with pq.ParquetWriter(target, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
    pq.write_table(snapshot, folder / "_snapshot.parquet")


def _audit(
    con: duckdb.DuckDBPyConnection, database: Path, parquet: Path, expected: dict[str, int]
) -> None:
    """Raise AuditError unless the copies hold exactly the rows of the warehouse."""
    con.execute(f"attach {_literal(database)} as _check (read_only)")
    try:
        copied = {table: _count(con, f"_check.{table}") for table in expected}
    finally:
        con.execute("detach _check")
    written = {
        table: _count(
            con, f"read_parquet({_literal(parquet / (table.split('.', 1)[1] + '.parquet'))})"
        )
        for table in expected
    }
    wrong = [
        f"{table} (warehouse {rows:,}, serving file {copied[table]:,}, Parquet {written[table]:,})"
        for table, rows in expected.items()
        if copied[table] != rows or written[table] != rows
    ]
    if wrong:
        raise AuditError(f"the copy differs from the warehouse: {'; '.join(wrong)}")


def _swap_parquet(parquet_root: Path, staged: Path, version: str, run_id: str) -> Path:
    final = parquet_root / version
    os.rename(staged, final)
    link = parquet_root / f"{CURRENT}{_TMP}{run_id}"
    link.unlink(missing_ok=True)
    os.symlink(version, link)
    os.replace(link, parquet_root / CURRENT)
    versions = sorted(
        p
        for p in parquet_root.iterdir()
        if p.is_dir() and not p.is_symlink() and _TMP not in p.name
    )
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def publish(
    con: duckdb.DuckDBPyConnection,
    serving_dir: Path,
    run_id: str,
    required: Iterable[str] = REQUIRED_TABLES,
    schemas: Iterable[str] = PUBLISHED_SCHEMAS,
    descriptions: Descriptions | None = None,
) -> Published:
    """Copy every table and view of ``schemas`` from the warehouse ``con`` into a new serving
    database and a new Parquet folder, audit both, then swap them in. Each table and column
    named in ``descriptions`` carries its description into both copies.

    Raises AuditError, leaving the published copies as they were, when a ``required`` table is
    missing or empty, or a copy does not hold the warehouse's rows."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(serving_dir)
    tables = published_tables(con, schemas)
    counts = {table: _count(con, table) for table in tables}
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
    snapshot = pa.table(
        {
            "run_id": [run_id] * len(tables),
            "version": [version] * len(tables),
            "published_at": pa.array([published_at] * len(tables), pa.timestamp("us")),
            "table_name": tables,
            "row_count": pa.array([counts[t] for t in tables], pa.int64()),
        }
    )
    staged_db = serving_dir / f"{SERVING_DATABASE}{_TMP}{run_id}"
    parquet_root = serving_dir / PARQUET_FOLDER
    staged_parquet = parquet_root / f"{version}{_TMP}{run_id}"
    try:
        _write_database(con, staged_db, tables, snapshot, descriptions or {})
        _write_parquet(con, staged_parquet, tables, snapshot, descriptions or {})
        _audit(con, staged_db, staged_parquet, counts)
        _fsync(staged_db)
    except BaseException:
        staged_db.unlink(missing_ok=True)
        shutil.rmtree(staged_parquet, ignore_errors=True)
        raise
    database = serving_dir / SERVING_DATABASE
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
    )
