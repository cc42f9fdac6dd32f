"""Odd deliveries through the real ingestion assets (issue 13): the night loads what can be
loaded exactly, reports the rest, and a delivery that cannot be loaded fails its step once,
naming the file and the cause, while a warehouse error stays retryable."""

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingest.contract import SOURCES
from orchestration.defs.quality.checks import source_checks
from orchestration.defs.raw import ingest_assets
from tests.support import weixi_resources
from tests.unit.test_delivery_rules import LINE_HEADER, order_row, orders_csv

DAY = date(2025, 3, 1)
WEIXI = str(Path(sys.executable).with_name("weixi"))


def _deliver(landing: Path, name: str, text: str, source: str = "orders") -> Path:
    path = landing / source / DAY.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _materialize(tmp_path: Path, landing: Path, warehouse: Path | None = None):
    return dg.materialize(
        ingest_assets,
        partition_key=DAY.isoformat(),
        resources=weixi_resources(warehouse or tmp_path / "w.duckdb", landing),
        raise_on_error=False,
    )


def _failures(result: dg.ExecuteInProcessResult) -> list:
    return [e.step_failure_data for e in result.all_events if e.is_step_failure]


def test_an_odd_but_loadable_night_loads_exactly_and_reports_orphan_lines(tmp_path):
    landing = tmp_path / "landing"
    _deliver(
        landing,
        "Orders.CSV",
        orders_csv(
            order_row("O0000000341 ", at="2025-03-01 02:00:00 UTC"),
            order_row("O0000000342", at="2025-02-28 13:00:00 America/New_York"),
        ),
    )
    _deliver(
        landing, "order_lines.csv", f"{LINE_HEADER}\nO0000000341,1,P1,1,5,5\nO404,1,P1,1,5,5\n"
    )
    result = _materialize(tmp_path, landing)
    assert result.success
    [orders] = result.asset_materializations_for_node("raw__orders")
    meta = orders.metadata
    assert meta["rows_read"].value == 4 == meta["rows_loaded"].value
    assert meta["rows_without_parent"].value == 1
    assert "order_lines: 1 row(s) whose orders row never arrived" in meta["warnings"].value
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute(
            "select order_id, ordered_at from raw.orders__orders order by 1"
        ).fetchall() == [
            ("O0000000341", datetime(2025, 3, 1, 10)),
            ("O0000000342", datetime(2025, 3, 1, 2)),
        ]


def test_order_lines_without_their_order_are_counted_in_data_quality_runs(tmp_path):
    landing = tmp_path / "landing"
    _deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    _deliver(landing, "order_lines.csv", f"{LINE_HEADER}\nO1,1,P1,1,5,5\nO404,1,P1,1,5,5\n")
    orders = [i for i, s in enumerate(SOURCES) if s.name == "orders"][0]
    result = dg.materialize(
        [ingest_assets[orders], source_checks[orders]],
        partition_key=DAY.isoformat(),
        resources=weixi_resources(tmp_path / "w.duckdb", landing, quality_docs=tmp_path / "docs"),
    )
    assert result.success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute(
            "select rows_in, rows_loaded, rows_without_parent from marts.data_quality_runs "
            "where dataset = 'orders'"
        ).fetchall() == [(3, 3, 1)]


def test_a_file_of_no_entity_fails_the_step_once_naming_it(tmp_path):
    landing = tmp_path / "landing"
    _deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    stray = _deliver(landing, "订单.csv", orders_csv(order_row("O2")))
    result = _materialize(tmp_path, landing)
    assert not result.success
    [failure] = _failures(result)
    # dg.Failure(allow_retries=False): a user failure with its own description, never retried
    assert failure.user_failure_data is not None
    assert str(stray) in failure.user_failure_data.description
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*) from raw._loads where source = 'orders'"
        ).fetchone() == (0,)


def test_an_unreadable_warehouse_stays_a_retryable_error(tmp_path):
    landing = tmp_path / "landing"
    _deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    warehouse = tmp_path / "warehouse_is_a_folder.duckdb"
    warehouse.mkdir()
    result = _materialize(tmp_path, landing, warehouse)
    failures = _failures(result)
    assert failures and all(f.user_failure_data is None for f in failures)
    assert {f.error.cause.cls_name for f in failures} == {"IOException"}


@pytest.mark.code_location_process
def test_weixi_run_names_a_day_folder_not_named_yyyy_mm_dd(tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders" / "20261201").mkdir(parents=True)
    (landing / "orders" / "20261201" / "orders.csv").write_text(orders_csv(order_row("O1")))
    result = subprocess.run(
        [WEIXI, "run", "--landing", str(landing)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "orders/20261201: not a delivery day folder" in result.stderr
    assert "Traceback" not in result.stderr
