"""The Parquet raw store (Spark): the loader's day folders hold exactly its DuckDB rows, a
re-load replaces a day, and a failed load leaves the day folders it did not commit as they were."""

from __future__ import annotations

import shutil
from datetime import datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from activation.suppressions import update_ledger, write_erasure_request
from ingest import loader
from ingest.contract import CRM, ORDERS, SOURCES, Source
from ingest.log_tables import LOG_TABLES
from ingest.parquet_raw import PARQUET_FILE, ParquetRawStore, _SourceLog
from ingest.reading import DeliveryError
from tests.support.messy_landing import END, START, build_messy_landing

MOMENT_COLUMNS = {"_loaded_at", "loaded_at"}
"""When a load ran: two loads of the same landing differ only there."""


@pytest.fixture(scope="module")
def messy_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_messy_landing(tmp_path_factory.mktemp("messy") / "landing")


def _load(
    warehouse: Path,
    landing: Path,
    store: ParquetRawStore | None,
    sources: tuple[Source, ...] = SOURCES,
    first=START,
    last=END,
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        for source in sources:
            loader.load_source(con, source, landing, first, last, "test", store=store)


def _tables(sources: tuple[Source, ...] = SOURCES) -> list[str]:
    raw = [source.raw_table(entity) for source in sources for entity in source.entities]
    return raw + [spec.name for spec in LOG_TABLES]


def _columns(con: duckdb.DuckDBPyConnection, table: str, left_out: set[str]) -> str:
    names = [row[0] for row in con.execute(f"describe {table}").fetchall()]
    return ", ".join(f'"{name}"' for name in names if name not in left_out)


def _differences(con: duckdb.DuckDBPyConnection, ours: str, theirs: str, columns: str) -> int:
    """Rows of either relation the other lacks (as multisets)."""
    [(count,)] = con.execute(
        f"""select count(*) from (
            (select {columns} from {ours} except all select {columns} from {theirs})
            union all
            (select {columns} from {theirs} except all select {columns} from {ours}))"""
    ).fetchall()
    return count


def _parquet(store: ParquetRawStore, table: str) -> str:
    """The table's day folders as DuckDB reads them (a table without rows has none: then
    the DuckDB table itself, empty, stands in for them)."""
    folder = store.table_folder(table)
    if not any(folder.rglob("*.parquet")):
        return f"(select * from {table} where false)"
    return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true, union_by_name = true)"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` by path: its inode and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_day_folders_hold_the_duckdb_rows(tmp_path, messy_landing):
    store = ParquetRawStore(tmp_path / "parquet")
    _load(tmp_path / "spark.duckdb", messy_landing, store)
    _load(tmp_path / "duckdb.duckdb", messy_landing, None)
    with duckdb.connect(str(tmp_path / "spark.duckdb")) as con:
        con.execute(f"attach '{tmp_path / 'duckdb.duckdb'}' as plain (read_only)")
        for table in _tables():
            every_column = _columns(con, table, set())
            assert _differences(con, table, _parquet(store, table), every_column) == 0, table
            # The store changes nothing in DuckDB: the same rows as a load without it.
            columns = _columns(con, table, MOMENT_COLUMNS)
            assert _differences(con, table, f"plain.{table}", columns) == 0, table
        [(quarantined,)] = con.execute("select count(*) from raw._quarantine").fetchall()
        [(without_parent,)] = con.execute(
            "select count(rows_without_parent) from raw._loads"
        ).fetchall()
    assert quarantined > 0 and without_parent > 0
    orders = store.table_folder(ORDERS.raw_table(ORDERS.entities[0]))
    assert sorted(p.name for p in orders.iterdir()) == [
        f"_partition_date={START + timedelta(days=n)}" for n in range((END - START).days + 1)
    ]
    assert not [p for p in store.root.rglob(".*")], "no folder in flight is left behind"


def test_reloading_a_day_replaces_its_folders_only(tmp_path, messy_landing):
    landing, store = tmp_path / "landing", ParquetRawStore(tmp_path / "parquet")
    _copy(messy_landing, landing)
    warehouse = tmp_path / "w.duckdb"
    _load(warehouse, landing, store, (ORDERS,))
    before = _snapshot(store.root)
    day = landing / "orders" / END.isoformat()
    (day / "order_lines.csv").unlink()
    orders = day / "orders.csv"
    orders.write_text("".join(orders.read_text().splitlines(keepends=True)[:2]))
    _load(warehouse, landing, store, (ORDERS,), END, END)
    after = _snapshot(store.root)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    logs = {f"raw/{log}/source=orders/data_0.parquet" for log in ("_loads", "_files")}
    assert changed - logs and all(f"date={END}" in path for path in changed - logs)
    assert not [p for p in after if p.startswith("orders__order_lines") and f"={END}" in p]
    with duckdb.connect(str(warehouse)) as con:
        for table in _tables((ORDERS,)):
            columns = _columns(con, table, set())
            assert _differences(con, table, _parquet(store, table), columns) == 0, table
        [(rows,)] = con.execute(
            "select count(*) from raw.orders__orders where _partition_date = ?", [END]
        ).fetchall()
    assert rows == 1


def test_a_failed_write_leaves_every_day_folder_and_the_duckdb_days(
    tmp_path, messy_landing, monkeypatch
):
    store = ParquetRawStore(tmp_path / "parquet")
    warehouse = tmp_path / "w.duckdb"
    _load(warehouse, messy_landing, store, (ORDERS,))
    before = _snapshot(store.root)
    with duckdb.connect(str(warehouse)) as con:
        loaded_at = con.execute("select max(_loaded_at) from raw.orders__orders").fetchall()
    write = _SourceLog.write

    def failing_on_the_last_table(log: _SourceLog, con, incoming: Path) -> None:
        if log.table == "raw._files":
            con.execute("select no_such_column from raw._files")
        write(log, con, incoming)

    monkeypatch.setattr(_SourceLog, "write", failing_on_the_last_table)
    with pytest.raises(duckdb.BinderException):
        _load(warehouse, messy_landing, store, (ORDERS,))
    assert _snapshot(store.root) == before
    assert not [p for p in store.root.rglob(".*")]
    with duckdb.connect(str(warehouse)) as con:
        again = con.execute("select max(_loaded_at) from raw.orders__orders").fetchall()
    assert again == loaded_at


def test_a_failed_day_keeps_the_days_committed_before_it(tmp_path, messy_landing, monkeypatch):
    monkeypatch.setattr(loader, "COMMIT_ROWS", 1)  # one day per transaction
    landing, store = tmp_path / "landing", ParquetRawStore(tmp_path / "parquet")
    _copy(messy_landing, landing)
    warehouse = tmp_path / "w.duckdb"
    _load(warehouse, landing, store, (ORDERS,))
    before = _snapshot(store.root)
    first_orders = landing / "orders" / START.isoformat() / "orders.csv"
    first_orders.write_text("".join(first_orders.read_text().splitlines(keepends=True)[:2]))
    (landing / "orders" / END.isoformat() / "orders.csv").write_text("order_id\nO1\n")
    with pytest.raises(DeliveryError):
        _load(warehouse, landing, store, (ORDERS,))
    after = _snapshot(store.root)
    assert _of_day(after, START) != _of_day(before, START)
    assert _of_day(after, END) == _of_day(before, END)
    folder = store.table_folder("raw.orders__orders") / f"_partition_date={START}"
    with duckdb.connect() as con:
        [(rows,)] = con.execute(f"select count(*) from '{folder}/*.parquet'").fetchall()
    assert rows == 1


def test_an_erasure_reaches_the_day_folders_of_the_erased_rows_only(tmp_path, messy_landing):
    store, warehouse = ParquetRawStore(tmp_path / "parquet"), tmp_path / "w.duckdb"
    _load(warehouse, messy_landing, store, (CRM,))
    with duckdb.connect(str(warehouse)) as con:
        [(erased, days)] = con.execute(
            "select customer_id, list(distinct _partition_date) from raw.crm__customers "
            "group by all having count(*) > 1 order by all limit 1"
        ).fetchall()
    before = _snapshot(store.root)
    requests = tmp_path / "erasure_requests"
    write_erasure_request(requests, [erased], datetime.combine(END, time(12)))
    with duckdb.connect(str(warehouse)) as con:
        update = update_ledger(
            con,
            requests,
            datetime.combine(END, time(13)),
            on_scrubbed=lambda con, days: store.write_each_day(con, CRM, days),
        )
        assert update.scrubbed_rows["raw.crm__customers"] >= 2
        for table in _tables((CRM,)):
            columns = _columns(con, table, set())
            assert _differences(con, table, _parquet(store, table), columns) == 0, table
    customers = _parquet(store, "raw.crm__customers")
    with duckdb.connect() as con:
        assert con.execute(f"from {customers} where customer_id = ?", [erased]).fetchall() == []
    # The days of the erased rows are written again, the others are left as they were.
    after = _snapshot(store.root)
    day_files = {path for path in after if "_partition_date=" in path}
    rewritten = {path for path in day_files if after[path] != before.get(path)}
    for day in days:
        assert f"raw/crm__customers/_partition_date={day}/{PARQUET_FILE}" in rewritten
    assert len(rewritten) < len(day_files) / 2


def _of_day(snapshot: dict[str, tuple[int, int]], day) -> dict[str, tuple[int, int]]:
    return {path: stamp for path, stamp in snapshot.items() if f"date={day}" in path}


def _copy(landing: Path, to: Path) -> None:
    """A copy of ``landing`` a test may change."""
    shutil.copytree(landing, to)
