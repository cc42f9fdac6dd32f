"""Time the publish step (write, audit, swap the serving copy) on an existing warehouse, from
scratch and on a night, check that the copies hold the warehouse's tables, and time the
loader's checks; prints figures, asserts nothing. Example, after `make run`:

    .venv/bin/python benchmarks/bench_publish.py --warehouse data/warehouse.duckdb \
        --landing data/landing

The warehouse is copied to a temporary folder first, so the original is left alone; with
``--in-place`` (for a large warehouse that is itself a copy) it is changed and put back, and the
loader is not timed.

A night is imitated on the warehouse: the newest day of each monthly-partitioned table and one
row of every other table are set aside, the rest is published from scratch (last night's copy),
the rows are put back and published again (tonight: a new day, every other table changed). Then
a publish with nothing changed. After the night, each table's row count and content hash (the
sum of its rows' hashes) in the warehouse, the serving DuckDB file and the current Parquet
files are compared. ``--from-scratch`` times one publish into an empty folder instead (the only
kind of publish before publishes kept unchanged tables).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ingest.contract import SOURCES
from ingest.loader import load_source
from orchestration.cli import landing_dates
from orchestration.defs.dbt.project import prepare_manifest
from orchestration.defs.publish import table_descriptions
from serving.snapshot import (
    CURRENT,
    MONTHLY_PARTITIONS,
    PARQUET_FOLDER,
    SERVING_DATABASE,
    Published,
    content_sum,
    parquet_path,
    publish,
    published_tables,
)

ASIDE = "bench_publish_aside"


def _timed(label: str, step: Callable[[], Published]) -> Published:
    began = time.monotonic()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = step()
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    print(
        f"{label}: {time.monotonic() - began:.1f} s, {seconds:.1f} CPU-s, "
        f"wrote {len(result.written)} tables or months of {len(result.tables)} tables; "
        f"serving file "
        f"{result.database_bytes / 2**20:,.0f} MB, Parquet {result.parquet_bytes / 2**20:,.0f} MB",
        flush=True,
    )
    return result


def _set_aside(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    con.execute(f"create schema {ASIDE}")
    for i, table in enumerate(tables):
        column = MONTHLY_PARTITIONS.get(table)
        where = (
            f'"{column}" = (select max("{column}") from {table})'
            if column
            else f"rowid = (select min(rowid) from {table})"
        )
        con.execute(f"create table {ASIDE}.t{i} as from {table} where {where}")
        con.execute(f"delete from {table} where {where}")


def _put_back(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for i, table in enumerate(tables):
        con.execute(f"insert into {table} from {ASIDE}.t{i}")
    con.execute(f"drop schema {ASIDE} cascade")


def _content(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, int]:
    columns = [d[0] for d in con.execute(f"from {relation} limit 0").description]
    return con.execute(f"select count(*), {content_sum(columns)} from {relation}").fetchone()


def _compare(con: duckdb.DuckDBPyConnection, serving: Path) -> None:
    folder = (serving / PARQUET_FOLDER / CURRENT).resolve()
    con.execute(f"attach '{serving / SERVING_DATABASE}' as bench_serving (read_only)")
    try:
        for table in published_tables(con):
            warehouse = _content(con, table)
            copy = _content(con, f"bench_serving.{table}")
            parquet = _content(con, f"read_parquet('{parquet_path(folder, table)}')")
            same = "same" if warehouse == copy == parquet else "DIFFERENT"
            print(
                f"  {table}: {warehouse[0]:,} rows, hash {warehouse[1]} {same}"
                + ("" if same == "same" else f" (serving {copy}, Parquet {parquet})")
            )
    finally:
        con.execute("detach bench_serving")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    parser.add_argument("--landing", type=Path, default=Path("data/landing"))
    parser.add_argument("--in-place", action="store_true", help="use the warehouse itself")
    parser.add_argument("--from-scratch", action="store_true", help="one publish, no night")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.warehouse.parent) as tmp:
        warehouse = args.warehouse
        if not args.in_place:
            warehouse = Path(tmp) / "warehouse.duckdb"
            shutil.copy(args.warehouse, warehouse)
        serving = Path(tmp) / "serving"
        described = table_descriptions(prepare_manifest())
        with duckdb.connect(str(warehouse)) as con:
            con.execute(f"set threads = {args.threads}")

            def night(label: str, run_id: str) -> Published:
                return _timed(label, lambda: publish(con, serving, run_id, descriptions=described))

            if args.from_scratch:
                night("publish from scratch", "bench-scratch")
            else:
                tables = published_tables(con)
                _set_aside(con, tables)
                try:
                    night("last night, from scratch", "bench-1")
                finally:
                    _put_back(con, tables)
                night("tonight (a new day)", "bench-2")
                night("nothing changed", "bench-3")
            print("warehouse, serving file and Parquet (rows, content hash):")
            _compare(con, serving)
            if args.landing.is_dir() and not args.in_place:
                days = landing_dates(args.landing)
                began = time.monotonic()
                read = 0
                for source in SOURCES:
                    report = load_source(con, source, args.landing, days[0], days[-1], "bench")
                    read += report.total("rows_read")
                load = time.monotonic() - began
                print(
                    f"load_seconds={load:.1f} for {len(days)} days, {read:,} rows "
                    f"({read / load:,.0f} rows/s with hashing, encoding and row checks)"
                )


if __name__ == "__main__":
    main()
