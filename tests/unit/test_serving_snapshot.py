"""A night's publish keeps what did not change and still equals a publish from scratch."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import duckdb
import pytest

from serving.snapshot import (
    CURRENT,
    PARQUET_FOLDER,
    SERVING_DATABASE,
    Published,
    parquet_path,
    publish,
    published_tables,
)

PARTITIONS = {"marts.fct_orders": "delivered_on"}
DESCRIPTIONS = {"marts.kpi_monthly": ("One row per month.", {"month": "The calendar month."})}


def _publish(con: duckdb.DuckDBPyConnection, serving: Path, run_id: str) -> Published:
    return publish(con, serving, run_id, descriptions=DESCRIPTIONS, partitions=PARTITIONS)


@pytest.fixture
def warehouse(tmp_path: Path):
    """Three months of orders, one row per customer, and marts that a night leaves alone."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_orders as select 'o' || range as order_id, "
            "date '2026-09-01' + (range % 91)::int as delivered_on, "
            "(range * 1.25)::decimal(18, 2) as amount, range % 3 = 0 as customer_in_crm "
            "from range(900)"
        )
        con.execute(
            "create table marts.customer_360 as select 'c' || range as customer_id, "
            "range as orders from range(50)"
        )
        con.execute("create table marts.kpi_daily as select range as day from range(91)")
        con.execute(
            "create table marts.kpi_monthly as select unnest(['2026-09', '2026-10']) as month"
        )
        con.execute("create table marts.retired as select 1 as id")
        yield con


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple]:
    return con.execute(f"select * from {relation} order by all").fetchall()


def _contents(con: duckdb.DuckDBPyConnection, published: Published) -> dict[str, tuple]:
    """Every table as the serving file and as the Parquet files hold it (sorted rows)."""
    con.execute(f"attach '{published.database}' as _read (read_only)")
    try:
        return {
            table: (
                _rows(con, f"_read.{table}"),
                _rows(con, f"read_parquet('{parquet_path(published.parquet, table)}')"),
            )
            for table in published.tables
        }
    finally:
        con.execute("detach _read")


def _blocks(database: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            "select column_id, segment_id, block_id, block_offset "
            f"from pragma_storage_info('{table}') order by all"
        ).fetchall()


def test_a_night_equals_a_publish_from_scratch_and_keeps_what_did_not_change(warehouse, tmp_path):
    serving = tmp_path / "serving"
    first = _publish(warehouse, serving, "night-one")
    assert first.written == [
        "marts.customer_360",
        "marts.fct_orders/2026-09",
        "marts.fct_orders/2026-10",
        "marts.fct_orders/2026-11",
        "marts.kpi_daily",
        "marts.kpi_monthly",
        "marts.retired",
    ]
    kept_month = first.parquet / "fct_orders" / "2026-10.parquet"
    kept_table = first.parquet / "kpi_monthly.parquet"
    kept_blocks = _blocks(first.database, "marts.kpi_monthly")

    # A night: a new day in a new month, a late correction in place on an old day, an order
    # removed from another month, one customer changed, a mart added and one retired.
    warehouse.execute(
        "insert into marts.fct_orders values ('new', date '2026-12-01', 9.99, true), "
        "('undated', null, 1.00, false)"
    )
    warehouse.execute("update marts.fct_orders set customer_in_crm = true where order_id = 'o1'")
    warehouse.execute("delete from marts.fct_orders where order_id = 'o899'")
    warehouse.execute("update marts.customer_360 set orders = 99 where customer_id = 'c7'")
    warehouse.execute("create table marts.churn_scores as select 'c1' as customer_id, 0.5 as p")
    warehouse.execute("drop table marts.retired")
    night = _publish(warehouse, serving, "night-two")
    scratch = _publish(warehouse, tmp_path / "scratch", "scratch")

    assert night.written == [
        "marts.churn_scores",
        "marts.customer_360",
        "marts.fct_orders/2026-09",
        "marts.fct_orders/2026-11",
        "marts.fct_orders/2026-12",
        "marts.fct_orders/none",
    ]
    assert night.tables == scratch.tables
    assert set(night.tables) == set(published_tables(warehouse))
    tonight = _contents(warehouse, night)
    assert tonight == _contents(warehouse, scratch)
    for table, (database_rows, parquet_rows) in tonight.items():
        assert database_rows == parquet_rows == _rows(warehouse, table), table

    # Unchanged: the Parquet files are the previous version's (hard links, not rewritten),
    # the DuckDB table sits in the same blocks and keeps its comment.
    current = (serving / PARQUET_FOLDER / CURRENT).resolve()
    assert current == night.parquet
    for kept in (kept_month, kept_table):
        assert os.path.samefile(kept, current / kept.relative_to(first.parquet))
    assert _blocks(night.database, "marts.kpi_monthly") == kept_blocks
    with duckdb.connect(str(night.database), read_only=True) as con:
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'kpi_monthly'"
        ).fetchone()[0]
        assert comment == "The calendar month."
        assert (
            con.execute(
                "select tags['storage_version'] from duckdb_databases() "
                "where database_name = current_database()"
            ).fetchone()[0]
            == "v1.0.0+"
        )
    header = (serving / SERVING_DATABASE).read_bytes()[:20]
    assert struct.unpack("<Q", header[12:20])[0] == 64, "still readable by DuckDB 0.10"

    again = _publish(warehouse, serving, "night-three")
    assert again.written == []
    assert _contents(warehouse, again) == tonight


def test_copies_from_different_publishes_are_rewritten_whole(warehouse, tmp_path):
    serving = tmp_path / "serving"
    first = _publish(warehouse, serving, "night-one")
    warehouse.execute("update marts.customer_360 set orders = 99 where customer_id = 'c7'")
    second = _publish(warehouse, serving, "night-two")
    assert second.written == ["marts.customer_360"]
    # As if a publish had died between swapping the DuckDB file and the Parquet folder.
    link = serving / PARQUET_FOLDER / CURRENT
    link.unlink()
    link.symlink_to(first.version)
    third = _publish(warehouse, serving, "night-three")
    assert third.written == first.written
    assert _contents(warehouse, third) == _contents(warehouse, second)


def test_a_serving_folder_copied_without_its_links_publishes_again(warehouse, tmp_path):
    _publish(warehouse, tmp_path / "serving", "night-one")
    copied = tmp_path / "copied"
    shutil.copytree(tmp_path / "serving", copied)  # as `cp -r`: `current` becomes a folder
    assert not (copied / PARQUET_FOLDER / CURRENT).is_symlink()
    warehouse.execute("update marts.customer_360 set orders = 99 where customer_id = 'c7'")
    second = _publish(warehouse, copied, "night-two")
    current = copied / PARQUET_FOLDER / CURRENT
    assert current.is_symlink() and current.resolve() == second.parquet.resolve()
    assert _contents(warehouse, second) == _contents(
        warehouse, _publish(warehouse, tmp_path / "scratch", "scratch")
    )
