"""Ingestion assets materialised by Dagster against a real DuckDB file and generated deliveries."""

import csv
import json
from datetime import date

import dagster as dg
import duckdb

from ingest.contract import CRM, SOURCES
from orchestration.defs.raw import ingest_assets
from tests.support import DEMO_END, range_tags, table_snapshot, weixi_resources


def _lines_delivered(landing, day: date) -> dict[str, int]:
    counts = {}
    for source in SOURCES:
        for entity in source.entities:
            n = 0
            for path in (landing / source.name / day.isoformat()).glob(entity.file_glob):
                with path.open(encoding="utf-8", newline="") as handle:
                    if entity.format == "csv":
                        n += sum(1 for _ in csv.reader(handle)) - 1
                    else:
                        n += sum(1 for line in handle if json.loads(line))
            counts[source.raw_table(entity)] = n
    return counts


def test_partition_loads_every_delivered_row(tmp_path, demo_landing):
    warehouse = tmp_path / "w.duckdb"
    result = dg.materialize(
        ingest_assets,
        partition_key=DEMO_END.isoformat(),
        resources=weixi_resources(warehouse, demo_landing),
    )
    assert result.success
    delivered = _lines_delivered(demo_landing, DEMO_END)
    assert sum(delivered.values()) > 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, n in delivered.items():
            loaded = con.execute(f"select count(*) from {table}").fetchone()[0]
            quarantined = con.execute(
                "select count(*) from raw._quarantine where source || '__' || entity = ?",
                [table.removeprefix("raw.")],
            ).fetchone()[0]
            assert loaded + quarantined == n, table
            dates = con.execute(f"select distinct _partition_date from {table}").fetchall()
            assert dates in ([], [(DEMO_END,)])
    for materialization in result.asset_materializations_for_node("raw__orders"):
        meta = materialization.metadata
        assert meta["rows_read"].value == meta["rows_loaded"].value + meta["rows_quarantined"].value
        assert meta["rows_read"].value == sum(
            n for t, n in delivered.items() if t.startswith("raw.orders__")
        )


def test_same_partition_twice_gives_identical_tables(tmp_path, demo_landing):
    warehouse = tmp_path / "w.duckdb"
    resources = weixi_resources(warehouse, demo_landing)
    for _ in range(2):
        assert dg.materialize(
            ingest_assets, partition_key=DEMO_END.isoformat(), resources=resources
        ).success
        if _ == 0:
            first = table_snapshot(warehouse, ("raw",))
    second = table_snapshot(warehouse, ("raw",))
    assert first.keys() == second.keys()
    for table in first:
        assert first[table].equals(second[table]), table


def test_ranged_backfill_is_one_run_over_all_days(tmp_path, demo_landing):
    warehouse = tmp_path / "w.duckdb"
    start, end = date(2025, 6, 1), DEMO_END
    result = dg.materialize(
        ingest_assets,
        resources=weixi_resources(warehouse, demo_landing),
        tags=range_tags(start, end),
    )
    assert result.success
    partitions = {m.partition for m in result.asset_materializations_for_node("raw__orders")}
    assert len(partitions) == 30
    with duckdb.connect(str(warehouse), read_only=True) as con:
        days = con.execute(
            "select min(_partition_date), max(_partition_date), "
            "count(distinct _partition_date) from raw.orders__orders"
        ).fetchone()
        loads = con.execute("select count(distinct load_id) from raw._loads").fetchone()[0]
    assert days == (start, end, 30)
    assert loads == 1, "a single-run backfill loads the range in one run"


def test_metadata_preview_leaves_out_personal_data(tmp_path, demo_landing):
    result = dg.materialize(
        ingest_assets,
        partition_key=DEMO_END.isoformat(),
        resources=weixi_resources(tmp_path / "w.duckdb", demo_landing),
    )
    crm = CRM.entities[0]
    pii = {c.name for c in crm.columns if c.pii}
    assert {"email", "phone", "name", "birthday"} <= pii
    (materialization,) = result.asset_materializations_for_node("raw__crm")
    meta = materialization.metadata
    preview = meta[f"preview ({DEMO_END}, no PII)"].value
    header = preview.splitlines()[0]
    assert "customer_id" in header
    assert not pii & {h.strip() for h in header.split("|")}
    assert "@" not in preview
    assert meta["dagster/row_count"].value == meta["rows_loaded"].value
