"""The dbt resource carries the business parameters to dbt: the ``--vars`` it builds, defaults
that match the settings, a value set on it that reaches the marts, and no dbt run on import.
dbt runs in the run's process (``in_process``) unless the settings say otherwise."""

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster_dbt import DbtCliResource

from orchestration.defs.dbt import in_process
from orchestration.defs.dbt.resource import (
    BusinessRules,
    dbt_resource,
    dbt_vars,
    failed_data_tests,
)
from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, WeixiSettings
from tests.support import DEMO_END, run_dbt, weixi_resources

# Vars of dbt_project.yml that are not settings: the reference date.
RUN_VARS = {"as_of_date"}


def test_dbt_vars_carry_the_business_parameters():
    rules = BusinessRules.from_settings(WeixiSettings()).model_dump()
    variables = dbt_vars("/w.duckdb", rules)
    assert variables == {"warehouse_path": "/w.duckdb", **rules}
    assert variables["silver_tier_spend"] == 10_000 and variables["gold_tier_spend"] == 20_000


def test_the_resource_passes_the_configured_business_parameters():
    settings = WeixiSettings(churned_after_days=200, gold_tier_spend=5_000)
    variables = dbt_resource(settings).vars_for("/w.duckdb")
    duckdb = {"duckdb_memory_limit", "duckdb_threads", "duckdb_temp_directory"}
    assert set(variables) == {"warehouse_path", *BusinessRules.model_fields, *duckdb}
    assert (variables["churned_after_days"], variables["gold_tier_spend"]) == (200, 5_000)
    assert variables["at_risk_after_days"] == WeixiSettings().at_risk_after_days


def test_the_dbt_version_is_asked_once_per_process_not_per_step():
    # Dagster makes a resource object per step; each asked `dbt --version` again before.
    first, second = dbt_resource(WeixiSettings()), dbt_resource(WeixiSettings())
    assert first is not second
    assert first._cli_version is second._cli_version
    # Read from this environment's dbt-core, not by starting `dbt --version`: the same version.
    assert first._cli_version == DbtCliResource._cli_version.func(first)


def test_dbt_project_var_defaults_equal_the_settings_defaults():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    defaults = {k: v for k, v in project["vars"].items() if k not in RUN_VARS}
    assert set(defaults) == set(BusinessRules.model_fields), "dbt vars and BusinessRules differ"
    for name, value in defaults.items():
        setting = WeixiSettings.model_fields[name].default
        assert value == setting, f"dbt_project.yml {name}: {value}, settings default {setting}"


def test_importing_the_code_location_runs_no_dbt():
    # In a fresh interpreter: anything that would start dbt on import raises instead.
    script = """
import dagster_dbt
def refuse(*args, **kwargs):
    raise AssertionError("dbt was prepared or run on import")
dagster_dbt.DbtProject.prepare_if_dev = refuse
dagster_dbt.DbtCliResource.cli = refuse
import orchestration.definitions
import orchestration.defs.dbt.assets
import orchestration.defs.dbt.resource
import orchestration.defs.resources
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_a_value_set_on_the_resource_reaches_the_marts(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    """customer_360 rebuilt with a 30-day churn window and a gold tier from 1 yuan: the
    lifecycle stages and tiers follow the resource's values, not the defaults."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    resources = weixi_resources(warehouse, demo_landing, churned_after_days=30, gold_tier_spend=1)
    result = dg.materialize(
        all_assets, selection=dg.AssetSelection.keys(["marts", "customer_360"]), resources=resources
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        wrong = con.execute(
            """
            select count(*) filter (
                       where (lifetime_orders > 0 and days_since_last_order > 30)
                           != (lifecycle_stage = 'churned')
                   ),
                   count(*) filter (
                       where (trailing_12m_spend >= 1) != (membership_tier = 'gold')
                   ),
                   count(*) filter (where lifecycle_stage = 'churned'),
                   count(*) filter (where membership_tier = 'gold')
            from marts.customer_360
            """
        ).fetchone()
    with duckdb.connect(str(pipeline_warehouse[0]), read_only=True) as con:
        before = con.execute(
            "select count(*) filter (where lifecycle_stage = 'churned'), "
            "count(*) filter (where membership_tier = 'gold') from marts.customer_360"
        ).fetchone()
    assert wrong[:2] == (0, 0)
    assert wrong[2] > before[0] and wrong[3] > before[1]


def test_dbt_in_the_run_process_builds_the_same_marts_and_frees_the_warehouse(
    pipeline_warehouse, demo_landing, all_assets, tmp_path, monkeypatch, capsys
):
    """The default build starts no dbt process (one would be refused here), builds the same
    customer 360 as dbt's own process, prints what a dbt process prints (not its debug log),
    keeps dbt's log with its other files, and closes the warehouse: another process writes it
    right after."""
    started = subprocess.Popen

    def no_dbt_process(args, *rest, **kwargs):
        assert "dbt" not in os.path.basename(str(args[0])), f"a dbt process was started: {args}"
        return started(args, *rest, **kwargs)

    built, printed = {}, {}
    for in_this_process in (True, False):
        warehouse = tmp_path / f"in_process_{in_this_process}" / "warehouse.duckdb"
        warehouse.parent.mkdir()
        shutil.copy(pipeline_warehouse[0], warehouse)
        resources = weixi_resources(warehouse, demo_landing, dbt_in_process=in_this_process)
        assert resources["dbt"].in_process is in_this_process
        with monkeypatch.context() as patched:
            if in_this_process:
                patched.setattr(subprocess, "Popen", no_dbt_process)
            result = dg.materialize(
                all_assets,
                selection=dg.AssetSelection.keys(["marts", "customer_360"]),
                resources=resources,
            )
        assert result.success
        printed[in_this_process] = capsys.readouterr().out
        invocation = next((DBT_PROJECT_DIR / "target").glob(f"*-{result.run_id[:7]}-*"))
        assert (invocation / "dbt.log").exists(), "dbt's log is kept with its other files"
        assert not (Path.cwd() / "target" / invocation.name).exists()
        written = subprocess.run(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
                "'create table main.written_after_dbt as select 1 as n')",
                str(warehouse),
            ],
            capture_output=True,
            text=True,
        )
        assert written.returncode == 0, written.stderr
        with duckdb.connect(str(warehouse), read_only=True) as con:
            built[in_this_process] = con.execute(
                "select count(*), bit_xor(hash(c)) from marts.customer_360 c"
            ).fetchone()
    assert built[True] == built[False]
    assert built[True][0] > 0
    for in_this_process, out in printed.items():
        assert "OK created sql table model marts.customer_360" in out, in_this_process
        # a debug line of every model, which dbt writes to dbt.log only
        assert "SQL status" not in out, in_this_process


def test_a_dbt_command_that_fails_in_this_process_is_told_as_a_failed_process():
    """An argument dbt refuses: the exit code of a dbt process that failed, and an error line
    dagster-dbt reports with the failure; the environment and folder are put back."""
    folder, environment = os.getcwd(), dict(os.environ)
    command = in_process.DbtThread(
        ["dbt", "build", "--no-such-option"],
        env={**os.environ, "WEIXI_IN_PROCESS_TEST": "1"},
        cwd=DBT_PROJECT_DIR,
    )
    lines = [json.loads(line) for line in command.stdout]
    assert command.wait() == 2
    assert lines[-1]["info"]["level"] == "error"
    assert "no-such-option" in lines[-1]["info"]["msg"]
    assert (os.getcwd(), dict(os.environ)) == (folder, environment)


def test_the_parsed_project_is_reused_only_while_its_files_are_unchanged(tmp_path):
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "a.sql"
    model.write_text("select 1 as n")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text("{}")
    before = in_process._files_state(tmp_path)
    (tmp_path / "target" / "manifest.json").write_text('{"written": "by dbt"}')
    assert in_process._files_state(tmp_path) == before, "dbt's own output is not the project"
    model.write_text("select 22 as n")
    assert in_process._files_state(tmp_path) != before


def test_a_second_build_reuses_the_parse_and_reads_only_its_window(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    """Two one-day runs of an incremental model: the second starts from the first's partial
    parse (the window is not a var, so it does not force a full re-parse) and its SQL filters on
    its own day."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    resources = weixi_resources(warehouse, demo_landing)
    days = (DEMO_END - timedelta(days=1), DEMO_END)
    runs = [
        dg.materialize(
            all_assets,
            selection=dg.AssetSelection.keys(["marts", "fct_orders"]),
            partition_key=day.isoformat(),
            resources=resources,
        )
        for day in days
    ]
    assert all(run.success for run in runs)
    second = next((DBT_PROJECT_DIR / "target").glob(f"*-{runs[1].run_id[:7]}-*"))
    log = (second / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in log
    compiled = next((second / "compiled").rglob("fct_orders.sql")).read_text()
    assert f"between cast('{DEMO_END}' as date)" in compiled, compiled


def test_a_build_removes_all_but_the_newest_target_folders(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    """Old invocation folders (here 40 from 2001) go after a build; the run's own stays. Other
    test workers only add newer folders or remove more old ones, so at most kept - 1 of the old
    ones can remain."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    target = DBT_PROJECT_DIR / "target"
    old = [target / f"dbt_models-{n:07x}-0000000" for n in range(40)]
    for folder in old:
        folder.mkdir(parents=True)
        os.utime(folder, (1e9, 1e9))
    resources = weixi_resources(warehouse, demo_landing, dbt_target_folders_kept=30)
    try:
        run = dg.materialize(
            all_assets,
            selection=dg.AssetSelection.keys(["marts", "fct_orders"]),
            partition_key=DEMO_END.isoformat(),
            resources=resources,
        )
        assert run.success
        assert list(target.glob(f"*-{run.run_id[:7]}-*"))
        assert sum(folder.exists() for folder in old) <= 29
    finally:
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)


def test_failed_data_tests_are_named_and_not_retried(
    pipeline_warehouse, demo_landing, all_assets, tmp_path
):
    """A CRM row re-sent with a trailing space in its id (the loader trims ids; here it is
    written to raw by hand, as by an older version) fails staging's unique test: the step fails
    once, naming the test, instead of being retried like a transient error."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into raw.crm__customers by name "
            "select * replace (customer_id || ' ' as customer_id) "
            "from raw.crm__customers limit 1"
        )
    job = dg.define_asset_job(
        "staging_with_retries",
        selection=dg.AssetSelection.keys(["staging", "stg_crm__customers"]),
        op_retry_policy=dg.RetryPolicy(max_retries=2),
    )
    definitions = dg.Definitions(
        assets=all_assets, jobs=[job], resources=weixi_resources(warehouse, demo_landing)
    )
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def("staging_with_retries").execute_in_process(
            instance=instance, raise_on_error=False
        )
        retries = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert not result.success
    assert retries == []
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert "unique_stg_crm__customers_customer_id (1 failing rows)" in message, message


def test_only_data_test_failures_are_named():
    results = {
        "results": [
            {"unique_id": "test.weixi.unique_x.abc", "status": "fail", "failures": 3},
            {"unique_id": "model.weixi.x", "status": "success", "failures": None},
        ]
    }
    assert failed_data_tests(results) == ["unique_x (3 failing rows)"]
    results["results"].append({"unique_id": "model.weixi.y", "status": "error", "failures": None})
    assert failed_data_tests(results) == []


def test_runs_leave_the_unit_tests_to_make_test_where_they_all_pass(
    scored_warehouse, ml_landing, all_assets, tmp_path
):
    """A run's build of customer_rfm runs its data tests but not its unit tests (they check the
    SQL, not the data); here every unit test of the project runs, on the scored warehouse's
    relations, and passes."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(scored_warehouse, warehouse)
    resources = weixi_resources(warehouse, ml_landing)
    rfm = dg.materialize(
        all_assets, selection=dg.AssetSelection.keys(["marts", "customer_rfm"]), resources=resources
    )
    assert rfm.success
    (run,) = (DBT_PROJECT_DIR / "target").glob(f"*-{rfm.run_id[:7]}-*")
    ran = [r["unique_id"] for r in json.loads((run / "run_results.json").read_text())["results"]]
    assert "model.weixi.customer_rfm" in ran and any(n.startswith("test.") for n in ran)
    assert not [node for node in ran if node.startswith("unit_test.")]

    target = tmp_path / "dbt_target"
    unit_tests = run_dbt(["test", "--resource-type", "unit_test"], resources, warehouse, target)
    assert unit_tests.returncode == 0, unit_tests.stdout[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    assert {r["unique_id"] for r in results} == set(manifest["unit_tests"])
    assert len(results) >= 16
    assert {r["status"] for r in results} == {"pass"}
