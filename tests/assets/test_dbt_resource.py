"""The dbt resource carries the business parameters to dbt: the ``--vars`` it builds, defaults
that match the settings, a value set on it that reaches the marts, and no dbt run on import."""

import shutil
import subprocess
import sys
from datetime import date

import dagster as dg
import duckdb
import yaml

from orchestration.defs.dbt.resource import BusinessRules, dbt_resource, dbt_vars
from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, WeixiSettings
from tests.support import weixi_resources

# Vars of dbt_project.yml that are not settings: the partition window and the reference date.
RUN_VARS = {"min_date", "max_date", "as_of_date"}


def test_dbt_vars_carry_the_window_and_business_parameters():
    rules = BusinessRules.from_settings(WeixiSettings()).model_dump()
    assert dbt_vars("/w.duckdb", rules) == {"warehouse_path": "/w.duckdb", **rules}
    window = dbt_vars("/w.duckdb", rules, (date(2025, 1, 1), date(2025, 1, 31)))
    assert (window["min_date"], window["max_date"]) == ("2025-01-01", "2025-01-31")
    assert window["silver_tier_spend"] == 10_000 and window["gold_tier_spend"] == 20_000


def test_the_resource_passes_the_configured_business_parameters():
    settings = WeixiSettings(churned_after_days=200, gold_tier_spend=5_000)
    variables = dbt_resource(settings).vars_for("/w.duckdb")
    assert set(variables) == {"warehouse_path", *BusinessRules.model_fields}
    assert (variables["churned_after_days"], variables["gold_tier_spend"]) == (200, 5_000)
    assert variables["at_risk_after_days"] == WeixiSettings().at_risk_after_days


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
