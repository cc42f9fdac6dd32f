"""The code location loads, with the shape the nightly run and backfills rely on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ingest.contract import SOURCES
from orchestration.defs.dbt.assets import INCREMENTAL_SELECTOR
from orchestration.settings import PROJECT_ROOT
from orchestration.table_catalog import PYTHON_TABLES


def test_every_table_python_writes_that_a_model_reads_names_the_asset_that_writes_it(
    dbt_manifest,
):
    from orchestration.definitions import defs
    from orchestration.defs.dbt.project import weixi_dbt_project

    graph = defs().resolve_asset_graph()
    manifest = json.loads(weixi_dbt_project.manifest_path.read_text())
    python_sources = {
        unique_id: source
        for unique_id, source in manifest["sources"].items()
        if source["source_name"] not in {s.name for s in SOURCES}
    }
    assert {f"{s['schema']}.{s['name']}" for s in python_sources.values()} == {
        spec.name for spec in PYTHON_TABLES
    }
    reads = 0
    for model in manifest["nodes"].values():
        if model["resource_type"] != "model":
            continue
        model_key = dg.AssetKey([model["config"]["schema"], model["name"]])
        for parent in model["depends_on"]["nodes"]:
            if parent in python_sources:
                key = dg.AssetKey(python_sources[parent]["config"]["meta"]["dagster"]["asset_key"])
                assert graph.has(key), f"{parent}: no asset {key.to_user_string()}"
                assert key in graph.get(model_key).parent_keys, model["unique_id"]
                reads += 1
    assert reads, "dbt models read tables Python writes"


def test_definitions_load(dbt_manifest):
    from orchestration.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/crm", "raw/orders", "raw/service", "raw/social"} <= keys
    assert {
        "marts/customer_360",
        "marts/customer_rfm",
        "marts/fct_orders",
        "marts/kpi_daily",
    } <= keys
    # The model assets come after the dbt marts they read, the scored marts after them.
    value, segments = (
        dg.AssetKey(["marts", "customer_value"]),
        dg.AssetKey(["marts", "customer_segments"]),
    )
    assert dg.AssetKey(["marts", "fct_orders"]) in graph.get(value).parent_keys
    assert {value, dg.AssetKey(["marts", "customer_personas"])} <= graph.get(segments).parent_keys
    assert "marts/persona_profiles" in keys
    assert graph.get(segments).partitions_def is None
    fct = graph.get(dg.AssetKey(["marts", "fct_orders"]))
    assert fct.partitions_def is not None, f"{INCREMENTAL_SELECTOR} models are partitioned"
    assert graph.get(dg.AssetKey(["marts", "customer_360"])).partitions_def is None
    # Staging reads the deduplicated base table, which reads the raw deliveries by partition.
    base = graph.get(dg.AssetKey(["staging", "base_orders__orders"]))
    assert dg.AssetKey(["raw", "orders"]) in base.parent_keys
    assert base.partitions_def is not None
    assert base.key in graph.get(dg.AssetKey(["staging", "stg_orders__orders"])).parent_keys
    for key in (["raw", "crm"], ["marts", "fct_orders"]):
        node = graph.get(dg.AssetKey(key))
        assert node.backfill_policy == dg.BackfillPolicy.single_run()

    # DuckDB takes one writer: every asset is in the warehouse pool, steps run one at a time.
    materializable = [
        graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
    ]
    assert {frozenset(node.pools) for node in materializable} == {frozenset({"weixi_warehouse"})}
    assert definitions.resolve_job_def("weixi_nightly").executor_def.name == "in_process"

    schedule = definitions.resolve_schedule_def("weixi_nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    job = definitions.resolve_job_def("weixi_nightly")
    assert job.partitions_def is not None


@pytest.mark.reparses_dbt
def test_dg_check_defs_passes(dbt_manifest):
    dg_cli = Path(sys.executable).with_name("dg")
    env = {
        **os.environ,
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{dg_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nightly_schedule_requests_yesterdays_partition(dbt_manifest):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from orchestration.definitions import defs

    schedule = defs().resolve_schedule_def("weixi_nightly_schedule")
    tick = datetime(2025, 3, 2, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2025-03-01"]


def test_stages_alternate_and_respect_dependencies(dbt_manifest):
    from orchestration.definitions import defs
    from orchestration.stages import plan_stages

    graph = defs().resolve_asset_graph()
    stages = plan_stages(graph)
    assert [s.partitioned for s in stages] == [True, False, True, False]
    # The loaders, then the incremental base tables that deduplicate what they loaded; the base
    # views of entities delivered about once, and their superseded rows, rebuild whole.
    assert set(stages[0].keys) == {
        dg.AssetKey(["raw", s]) for s in ("crm", "orders", "service", "social", "campaigns")
    } | {dg.AssetKey(["staging", f"base_{t}"]) for t in ("orders__orders", "service__tickets")}
    assert {
        dg.AssetKey(["staging", f"base_{t}"])
        for t in (
            "orders__order_lines",
            "orders__superseded_order_lines",
            "social__posts",
            "social__superseded_posts",
        )
    } <= set(stages[1].keys)
    assert dg.AssetKey(["marts", "fct_orders"]) in stages[2].keys
    assert dg.AssetKey(["marts", "customer_rfm"]) in stages[3].keys
    assert dg.AssetKey(["marts", "customer_segments"]) in stages[3].keys
    stage_of = {key: i for i, stage in enumerate(stages) for key in stage.keys}
    assert len(stage_of) == sum(len(s.keys) for s in stages)
    for key, i in stage_of.items():
        assert (graph.get(key).partitions_def is not None) == stages[i].partitioned
        for parent in graph.get(key).parent_keys:
            assert stage_of[parent] <= i, f"{parent} must run before {key}"


def test_a_run_up_to_the_360_and_rfm_plans_only_what_they_need(dbt_manifest):
    from orchestration.definitions import defs
    from orchestration.stages import plan_stages

    graph = defs().resolve_asset_graph()
    targets = [dg.AssetKey(["marts", "customer_360"]), dg.AssetKey(["marts", "customer_rfm"])]
    planned = {key for stage in plan_stages(graph, up_to=targets) for key in stage.keys}
    loaders = {dg.AssetKey(["raw", s]) for s in ("crm", "orders", "service", "social")}
    assert {*targets, *loaders, dg.AssetKey(["marts", "fct_orders"])} <= planned
    for key in planned:
        assert set(graph.get(key).parent_keys) & graph.materializable_asset_keys <= planned
    everything = {key for stage in plan_stages(graph) for key in stage.keys}
    left_out = everything - planned
    assert {
        dg.AssetKey(["reports", "nightly_report"]),
        dg.AssetKey(["ml", "churn_model"]),
    } <= left_out
