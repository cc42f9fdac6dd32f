"""One writer per warehouse, readers never break the writer, and a signal stops a run cleanly:
real `weixi run` processes and real DuckDB files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.partitions import daily_partitions
from orchestration.defs.raw import ingest_assets
from orchestration.defs.resources import Warehouse
from orchestration.defs.schedules import nightly_retry_policy
from orchestration.settings import PROJECT_ROOT, WeixiSettings
from orchestration.warehouse_lock import lock_path
from serving.snapshot import SERVING_DATABASE
from tests.support import TINY_RANGE, table_snapshot, weixi_resources
from tests.support import messy_landing as messy
from tests.support.weixi_process import WeixiRun, run_weixi

# These tests start `weixi` processes that load the code location (see tests/conftest.py).
pytestmark = pytest.mark.code_location_process

COMPARED_MARTS = ("marts.fct_orders", "marts.kpi_daily", "marts.customer_360")
STEP_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] ([\w.]+): ")


def _tables(warehouse: Path, marts: tuple[str, ...] = COMPARED_MARTS) -> dict:
    """The delivered rows (raw tables, not the load bookkeeping) and ``marts``."""
    tables = table_snapshot(warehouse, ("raw", "marts"))
    return {t: f for t, f in tables.items() if re.match(r"raw\.[a-z]", t) or t in marts}


def test_one_writer_and_sigterm_stops_a_run_cleanly(tiny_landing, tiny_backfill, tmp_path):
    clean, backfill = tiny_backfill
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    assert lock_path(clean / "warehouse.duckdb").read_text() == "", "released, names nobody"

    stopped = tmp_path / "stopped"
    killed = WeixiRun(tiny_landing, stopped, *TINY_RANGE)
    try:
        killed.wait_for("running ")
        # A second run of the same warehouse does not start: one line naming the first.
        second = run_weixi(stopped, "run", "--landing", str(tiny_landing), *TINY_RANGE)
        assert second.returncode == 1, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"is being written by PID {killed.process.pid} (`weixi run --landing" in (
            second.stderr
        )
        assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)", second.stderr)
        assert "--wait" in second.stderr and "parsing the dbt project" not in second.stderr
        # `timeout` sends SIGTERM to the whole process group, dbt included, mid-dbt.
        seen = killed.wait_for("dbt_models: Running dbt command")
        os.killpg(killed.process.pid, signal.SIGTERM)
        assert killed.finish(timeout=120) == 128 + signal.SIGTERM
    finally:
        if killed.process.poll() is None:
            os.killpg(killed.process.pid, signal.SIGKILL)
    after = killed.lines[seen:]
    assert after[-1].startswith("weixi: stopped by SIGTERM: the step in progress was rolled back")
    steps = {m[1] for line in after if (m := STEP_LINE.match(line))}
    assert steps <= {"dbt_models", "weixi_nightly"}, after  # no further step
    assert not any("retry" in line.lower() for line in after), after
    assert not (stopped / "serving" / SERVING_DATABASE).exists(), "stopped before publishing"
    assert lock_path(stopped / "warehouse.duckdb").read_text() == "", "released when stopped"
    loaded = _tables(stopped / "warehouse.duckdb", marts=())

    rerun = run_weixi(stopped, "run", "--landing", str(tiny_landing), *TINY_RANGE, "--wait")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    recovered = _tables(stopped / "warehouse.duckdb")
    reference = _tables(clean / "warehouse.duckdb")
    assert recovered.keys() == reference.keys()
    for table, frame in reference.items():
        assert recovered[table].equals(frame), table
    for table, frame in loaded.items():  # the stopped run's committed days were whole
        assert frame.equals(reference[table]), table
    assert (stopped / "serving" / SERVING_DATABASE).exists()


def test_a_run_waits_for_the_holder_with_wait(tmp_path):
    landing = tmp_path / "landing"
    messy.write(
        landing,
        "orders/2025-03-01/orders.csv",
        messy.csv_text(messy.ORDER, [messy.order("O1", "C1", "2025-03-01 10:00:00")]),
    )
    warehouse, release = tmp_path / "warehouse.duckdb", tmp_path / "release"
    holder = _hold_writer_lock(warehouse, release)
    try:
        waiting = WeixiRun(landing, tmp_path, "--wait")
        waiting.wait_for(f"waiting for PID {holder.pid} (`")
        threading.Event().wait(1)
        assert not any("parsing the dbt project" in line for line in waiting.lines)
        release.touch()
        waiting.wait_for("parsing the dbt project")
    finally:
        release.touch()
        holder.wait(timeout=30)
        if waiting.process.poll() is None:
            os.killpg(waiting.process.pid, signal.SIGKILL)
            waiting.finish()


def _hold_writer_lock(warehouse: Path, release: Path) -> subprocess.Popen:
    """Another process that holds the writer lock of ``warehouse`` until ``release`` exists."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time\n"
            "from orchestration.warehouse_lock import writer_lock\n"
            f"with writer_lock(pathlib.Path({str(warehouse)!r}), command='weixi backfill'):\n"
            "    print('locked', flush=True)\n"
            f"    while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _orders_job(tmp_path: Path, **warehouse: object) -> tuple[dg.JobDefinition, Path]:
    landing, path = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    messy.write(
        landing,
        "orders/2025-03-01/orders.csv",
        messy.csv_text(messy.ORDER, [messy.order("O1", "C1", "2025-03-01 10:00:00")]),
    )
    job = dg.define_asset_job(
        "nightly_like",
        selection=[dg.AssetKey(["raw", "orders"])],
        partitions_def=daily_partitions,
        op_retry_policy=nightly_retry_policy(WeixiSettings(retry_delay_seconds=0.2)),
    )
    resources = {
        **weixi_resources(path, landing),
        "warehouse": Warehouse(path=str(path), **warehouse),
        "control": Warehouse(path=str(path), **warehouse),
    }
    definitions = dg.Definitions(assets=ingest_assets, jobs=[job], resources=resources)
    return definitions.resolve_job_def("nightly_like"), path


def test_a_dagster_run_fails_while_another_process_writes(tmp_path):
    # A run launched by the daemon or the UI takes the same lock as the command line.
    job, warehouse = _orders_job(tmp_path)
    release = tmp_path / "release"
    holder = _hold_writer_lock(warehouse, release)
    try:
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(
                partition_key="2025-03-01", instance=instance, raise_on_error=False
            )
    finally:
        release.touch()
        holder.wait(timeout=30)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    messages, error = [], failure.event_specific_data.error
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any(f"is being written by PID {holder.pid} (`weixi backfill`" in m for m in messages)


def test_a_reader_left_open_fails_the_load_once_naming_file_and_pid(tmp_path):
    job, warehouse = _orders_job(tmp_path, lock_wait_seconds=1)
    import duckdb

    duckdb.connect(str(warehouse)).close()
    release = tmp_path / "release"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, pathlib, time\n"
            f"con = duckdb.connect({str(warehouse)!r}, read_only=True)\n"
            "print('open', flush=True)\n"
            f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "open"
    run_id = str(uuid.uuid4())
    try:
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(
                partition_key="2025-03-01", instance=instance, run_id=run_id, raise_on_error=False
            )
            retries = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    finally:
        release.touch()
        reader.wait(timeout=30)
    assert not result.success
    assert retries == [], "a reader left open is not a transient failure"
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert f"{warehouse} is held open by PID {reader.pid}" in description
    assert "serving/weixi.duckdb" in description
