"""The `weixi` command as a user meets it: help, one-line errors, a real backfill."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestration.cli import main
from orchestration.settings import PROJECT_ROOT
from orchestration.table_catalog import PYTHON_TABLES
from serving.snapshot import PUBLISHED_SCHEMAS, published_tables
from tests.support import TINY_END, TINY_START
from tests.support.weixi_process import WEIXI, weixi_env

pytestmark = pytest.mark.code_location_process


def test_help_explains_each_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "run", "backfill", "contract"):
        assert command in result.output
    backfill = CliRunner().invoke(main, ["backfill", "--help"])
    assert "--start" in backfill.output and "--end" in backfill.output


def test_missing_landing_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [WEIXI, "run", "--landing", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "landing folder not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_folder_name_names_the_folder(tmp_path):
    (tmp_path / "orders" / "yesterday").mkdir(parents=True)
    result = subprocess.run(
        [WEIXI, "run", "--landing", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "orders/yesterday" in result.stderr and "Traceback" not in result.stderr


def test_backfill_command_runs_the_pipeline(tiny_backfill):
    folder, result = tiny_backfill
    assert result.returncode == 0, result.stderr[-3000:]
    assert "marts.customer_360" in result.stdout
    checked = re.search(r"data quality: (\d+) sources and tables checked", result.stdout)
    assert checked and int(checked[1]) >= 10, result.stdout
    instance_yaml = (folder / "dagster_home" / "dagster.yaml").read_text()
    assert "max_concurrent_runs: 1" in instance_yaml and "default_limit: 1" in instance_yaml
    assert "enabled: false" in instance_yaml
    _assert_the_ui_shows_the_run(folder / "dagster_home")
    # The quality checks ran with the backfill: Data Docs and one summary row per source/table.
    assert (folder / "quality_docs" / "index.html").is_file()
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        datasets = {
            d for (d,) in con.execute("select dataset from marts.data_quality_runs").fetchall()
        }
    assert {"crm", "orders", "service", "social", "marts.customer_360"} <= datasets


def _assert_the_ui_shows_the_run(home: Path) -> None:
    """The instance `weixi dev` opens holds what the run did (it ran on a throw-away one): the
    runs, the latest materialisation of every asset with its partitions, check evaluations."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_run_records()
        assert runs and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert all(r.start_time and r.end_time for r in runs)
        customers = instance.get_latest_materialization_event(
            dg.AssetKey(["marts", "customer_360"])
        )
        assert customers is not None and customers.run_id in {r.dagster_run.run_id for r in runs}
        scores = instance.get_latest_materialization_event(dg.AssetKey(["marts", "churn_scores"]))
        assert scores.asset_materialization.metadata["dagster/row_count"].value >= 0
        orders = dg.AssetKey(["raw", "orders"])
        assert instance.get_materialized_partitions(orders) == {
            d.isoformat() for d in pd.date_range(TINY_START, TINY_END).date
        }
        check = dg.AssetCheckKey(orders, "contract")
        (evaluation,) = instance.event_log_storage.get_asset_check_execution_history(check, 1)
        assert evaluation.status == AssetCheckExecutionRecordStatus.SUCCEEDED


def test_bad_delivery_fails_naming_file_and_columns(tmp_path, dbt_manifest):
    day = tmp_path / "landing" / "orders" / "2025-03-01"
    day.mkdir(parents=True)
    (day / "orders.csv").write_text("order_id,customer_id\nO1,C1\n")
    result = subprocess.run(
        [WEIXI, "run", "--landing", str(tmp_path / "landing")],
        capture_output=True,
        text=True,
        env=weixi_env(tmp_path),
        timeout=300,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("weixi: step raw__orders failed: ")
    assert f"{day / 'orders.csv'}: missing required column(s) ordered_at, status" in last[0]
    assert last[1].startswith("Error: run ") and "run the same command again" in last[1]
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        (failed,) = instance.get_run_records()
        assert failed.dagster_run.status == dg.DagsterRunStatus.FAILURE, "the UI shows failures"


def test_a_day_without_partition_is_refused_clearly(tmp_path):
    (tmp_path / "orders" / "2999-01-01").mkdir(parents=True)
    result = subprocess.run(
        [WEIXI, "run", "--landing", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "2999-01-01 has no partition yet" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def _group_gone(group: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return False


def test_dev_documents_host_and_port():
    result = CliRunner().invoke(main, ["dev", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "127.0.0.1" in result.output
    assert "--port" in result.output and "3000" in result.output


@pytest.mark.reparses_dbt
def test_dev_serves_on_the_given_port_and_stops_on_sigterm(tmp_path, dbt_manifest):
    port = _free_port()
    env = {**weixi_env(tmp_path), "WEIXI_LANDING": str(tmp_path / "landing")}
    log = (tmp_path / "dev.log").open("w")
    # Started as a non-interactive shell starts a background job: SIGINT ignored.
    process = subprocess.Popen(
        [WEIXI, "dev", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 180
        while not _answers(port):
            assert process.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the UI did not answer within 180 s"
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert not _answers(port), "the UI still answers after SIGTERM"
        assert _group_gone(process.pid, within=15), "the daemon or a code server outlived it"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_docs_builds_one_offline_page_of_the_models_and_the_warehouse(pipeline_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    # The fixture runs loading and dbt only: the tables the model and activation assets write
    # are created as they are before a first model is promoted (empty), so they are published.
    with duckdb.connect(str(warehouse)) as con:
        for spec in PYTHON_TABLES:
            spec.create(con)
    result = subprocess.run(
        [WEIXI, "docs"],
        capture_output=True,
        text=True,
        env={**os.environ, "WEIXI_WAREHOUSE": str(warehouse)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = Path(result.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    html = page.read_text(encoding="utf-8")
    # The manifest and the catalogue of the warehouse are inside the page, descriptions too.
    assert "model.weixi.customer_360" in html and "recency_score" in html
    assert re.search(r"One row per customer", html)
    assert not re.search(r"<script[^>]+src=\"https?://", html), "loads no script from the web"

    # Every table a publish copies to the serving file is in dbt's catalogue of the warehouse,
    # each of its columns described: dbt models, and the tables Python writes as sources.
    catalog = json.loads((page.parent / "catalog.json").read_text())
    manifest = json.loads((page.parent / "manifest.json").read_text())
    in_catalog = {
        f"{entry['metadata']['schema']}.{entry['metadata']['name']}"
        for entry in [*catalog["nodes"].values(), *catalog["sources"].values()]
    }
    documented = {
        f"{node['schema']}.{node.get('identifier') or node.get('alias') or node['name']}": node
        for node in [*manifest["nodes"].values(), *manifest["sources"].values()]
        if node["resource_type"] in ("model", "snapshot", "seed", "source")
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        published = published_tables(con)
        columns = con.execute(
            "select table_schema || '.' || table_name, column_name "
            "from information_schema.columns where table_schema in (select unnest(?))",
            [list(PUBLISHED_SCHEMAS)],
        ).fetchall()
    assert {spec.name for spec in PYTHON_TABLES if spec.schema == "marts"} < set(published)
    assert set(published) <= in_catalog, set(published) - in_catalog
    undocumented = [
        f"{table}.{column}"
        for table, column in columns
        if not documented[table]["columns"].get(column, {}).get("description")
    ]
    assert not undocumented, undocumented
