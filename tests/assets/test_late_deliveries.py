"""The late-data sensor: a file dropped into the folder of a day already loaded re-runs that day,
once per new state of the day's files."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import dagster as dg
import duckdb

from ingest.contract import ORDERS
from ingest.late import find_late_deliveries
from ingest.loader import load_source
from orchestration.defs.late_deliveries import late_deliveries_sensor
from orchestration.defs.raw import ingest_assets
from tests.support import messy_landing as messy
from tests.support import weixi_resources

DAY = "2025-03-01"


def _orders(*ids: str) -> str:
    return messy.csv_text(messy.ORDER, [messy.order(i, "C1", f"{DAY} 10:00:00") for i in ids])


def _evaluate(instance: dg.DagsterInstance, resources: dict) -> list[dg.RunRequest]:
    # A context manager: the warehouse resource sets up and tears down (its writer lock in runs).
    with dg.build_sensor_context(
        instance=instance,
        resources={k: resources[k] for k in ("control", "landing")},
    ) as context:
        result = late_deliveries_sensor(context)
    return [] if isinstance(result, dg.SkipReason) else list(result.run_requests)


def test_late_file_for_a_loaded_day_is_noticed_and_the_rerun_loads_it(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    resources = weixi_resources(warehouse, landing)
    messy.write(landing, f"orders/{DAY}/orders.csv", _orders("O1", "O2"))
    messy.write(landing, "orders/2025-03-02/orders.csv", _orders("O9"))
    with dg.instance_for_test() as instance:
        assert _evaluate(instance, resources) == [], "no warehouse yet"
        for day in (DAY, "2025-03-02"):
            assert dg.materialize(ingest_assets, partition_key=day, resources=resources).success
        assert _evaluate(instance, resources) == [], "everything loaded"

        messy.write(landing, f"orders/{DAY}/orders_late.csv", _orders("O3"))
        messy.write(landing, "orders/2025-03-09/orders.csv", _orders("O4"))  # a new day
        (request,) = _evaluate(instance, resources)
        assert request.partition_key == DAY
        assert request.job_name in (None, "weixi_nightly")
        assert "orders/2025-03-01/orders_late.csv" in request.tags["weixi/late_delivery"]
        (again,) = _evaluate(instance, resources)
        assert again.run_key == request.run_key, "the same delivery fires one run"

        assert dg.materialize(ingest_assets, partition_key=DAY, resources=resources).success
        with duckdb.connect(str(warehouse), read_only=True) as con:
            orders = con.execute(
                "select order_id from raw.orders__orders where _partition_date = ? order by 1",
                [DAY],
            ).fetchall()
        assert orders == [("O1",), ("O2",), ("O3",)]
        assert _evaluate(instance, resources) == [], "the re-run loaded it"

        # A corrected re-delivery: same name, new content.
        messy.write(landing, f"orders/{DAY}/orders_late.csv", _orders("O3", "O5"))
        (corrected,) = _evaluate(instance, resources)
        assert corrected.partition_key == DAY and corrected.run_key != request.run_key


def test_sensor_waits_while_a_run_holds_the_warehouse(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    resources = weixi_resources(warehouse, landing)
    messy.write(landing, f"orders/{DAY}/orders.csv", _orders("O1"))
    assert dg.materialize(ingest_assets, partition_key=DAY, resources=resources).success
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys\ncon = duckdb.connect({str(warehouse)!r})\nprint('locked', "
            "flush=True)\nsys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with dg.instance_for_test() as instance:
            with dg.build_sensor_context(
                instance=instance,
                resources={k: resources[k] for k in ("control", "landing")},
            ) as context:
                result = late_deliveries_sensor(context)
        assert isinstance(result, dg.SkipReason)
        assert "in use by a run" in result.skip_message
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_days_loaded_before_files_were_recorded_do_not_all_look_late(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    messy.write(landing, f"orders/{DAY}/orders.csv", _orders("O1"))
    with duckdb.connect(str(warehouse)) as con:
        load_source(con, ORDERS, landing, date(2025, 3, 1), date(2025, 3, 1), "old")
        assert [d.day for d in find_late_deliveries(con, landing)] == []
        # What an older version left: load records without file records.
        con.execute("update raw._loads set files_skipped = null")
        con.execute("delete from raw._files")
        assert find_late_deliveries(con, landing) == []
