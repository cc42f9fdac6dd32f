"""Failures and recovery: a run killed mid-way and re-run gives the tables of a clean run, and a
warehouse locked by another process for a moment is waited for."""

from __future__ import annotations

import os
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
from orchestration.defs.schedules import nightly_job, nightly_retry_policy
from orchestration.settings import PROJECT_ROOT, WeixiSettings, get_settings
from serving.snapshot import SERVING_DATABASE
from tests.support import messy_landing as messy
from tests.support import table_snapshot, throwaway_instance, weixi_resources
from tests.support.pipeline_process import run_pipeline

KILL_AFTER = "stage 1 done"
"""Kill once ingestion and the staging views are written, while dbt builds the facts."""


def _pipeline_command(warehouse: Path, landing: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.support.pipeline_process",
        str(warehouse),
        str(landing),
        messy.START.isoformat(),
        messy.END.isoformat(),
    ]


@pytest.mark.code_location_process
def test_killed_run_then_rerun_gives_the_same_tables_as_a_clean_run(messy_pipeline, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    command = _pipeline_command(warehouse, messy_pipeline.landing)
    killed = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        for line in killed.stdout:
            if KILL_AFTER in line:
                break
        threading.Event().wait(1.5)
        assert killed.poll() is None, "the run ended before it could be killed"
    finally:
        # The whole process group: the run and the dbt process it started.
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "serving" / SERVING_DATABASE).exists(), "killed before publishing"

    with throwaway_instance() as instance:
        rerun = run_pipeline(warehouse, messy_pipeline.landing, messy.START, messy.END, instance)
    assert [r.success for r in rerun] == [True] * 4

    clean = table_snapshot(messy_pipeline.warehouse, ("raw", "marts"))
    recovered = table_snapshot(warehouse, ("raw", "marts"))
    assert recovered.keys() == clean.keys()
    for table in clean:
        assert recovered[table].equals(clean[table]), table
    published = table_snapshot(tmp_path / "serving" / SERVING_DATABASE, ("marts",))
    assert all(published[t].equals(clean[t]) for t in published)
    assert not list((tmp_path / "serving").glob("*.tmp-*"))


def test_nightly_job_retries_failed_steps_with_backoff():
    assert nightly_job.op_retry_policy == nightly_retry_policy(get_settings())
    policy = nightly_job.op_retry_policy
    assert policy.max_retries >= 1 and policy.backoff == dg.Backoff.EXPONENTIAL


def test_warehouse_locked_for_a_moment_is_waited_for(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    messy.write(
        landing,
        "orders/2025-03-01/orders.csv",
        messy.csv_text(messy.ORDER, [messy.order("O1", "C1", "2025-03-01 10:00:00")]),
    )
    release = tmp_path / "release"
    # Another process (a BI tool, the late-data sensor) holds the file until told to let go.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, pathlib, sys, time\n"
            f"con = duckdb.connect({str(warehouse)!r})\n"
            "print('locked', flush=True)\n"
            f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    job = dg.define_asset_job(
        "retrying",
        selection=[dg.AssetKey(["raw", "orders"])],
        partitions_def=daily_partitions,
        op_retry_policy=nightly_retry_policy(WeixiSettings(retry_delay_seconds=0.5)),
    )
    definitions = dg.Definitions(
        assets=ingest_assets, jobs=[job], resources=weixi_resources(warehouse, landing)
    )
    run_id = str(uuid.uuid4())
    with dg.instance_for_test() as instance:

        def waiting() -> list[str]:
            logs = instance.all_logs(run_id)
            return [e.user_message for e in logs if "is held open by" in e.user_message]

        def release_once_waiting() -> None:
            while not waiting():
                threading.Event().wait(0.05)
            release.touch()

        watcher = threading.Thread(target=release_once_waiting, daemon=True)
        watcher.start()
        try:
            result = definitions.resolve_job_def("retrying").execute_in_process(
                partition_key="2025-03-01", instance=instance, run_id=run_id
            )
        finally:
            release.touch()
            holder.wait(timeout=30)
        retries = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
        messages = waiting()
    assert result.success
    assert retries == [], "the step waited for the holder instead of failing"
    assert f"{warehouse} is held open by PID {holder.pid}" in messages[0], messages
    assert (
        result.asset_materializations_for_node("raw__orders")[0].metadata["rows_loaded"].value == 1
    )
