"""Model and activation assets take their parameters from resources, never from the settings:
a value a test passes in a resource is the value the asset uses."""

import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.activation.lift import campaign_lift_table
from orchestration.defs.ml.recommendations import recommendations
from orchestration.defs.ml.value import customer_value
from orchestration.defs.resources import Audiences, Models
from orchestration.settings import PROJECT_ROOT, get_settings
from tests.support import weixi_resources

ASSET_FOLDERS = ("orchestration/defs/ml", "orchestration/defs/activation")


def test_no_asset_module_reads_the_settings():
    readers = [
        path.relative_to(PROJECT_ROOT)
        for folder in ASSET_FOLDERS
        for path in (PROJECT_ROOT / folder).glob("*.py")
        if re.search(r"\bget_settings\b", path.read_text(encoding="utf-8"))
    ]
    assert readers == []


def test_model_parameters_reach_the_assets(ml_warehouse, ml_landing, tmp_path):
    settings = get_settings()
    assert settings.recommendations_per_customer != 3 and settings.ltv_horizon_months != 6
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    resources = weixi_resources(warehouse, ml_landing)
    resources["models"] = Models(
        root=str(tmp_path / "models"), recommendations_per_customer=3, ltv_horizon_months=6
    )
    assert dg.materialize([recommendations, customer_value], resources=resources).success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        per_customer = con.execute(
            "select distinct count(*) from marts.recommendations group by customer_id"
        ).fetchall()
        horizons = con.execute(
            "select distinct ltv_horizon_months from marts.customer_value"
        ).fetchall()
    assert per_customer == [(3,)]
    assert horizons == [(6,)]


def test_the_lift_takes_its_churn_definition_from_the_audiences_resource(
    pipeline_warehouse, demo_landing, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    resources = weixi_resources(warehouse, demo_landing)
    audiences: Audiences = resources["audiences"]
    assert audiences.churned_after_days != 200
    resources["audiences"] = Audiences(
        definitions_file=audiences.definitions_file,
        exports_dir=str(Path(tmp_path) / "exports"),
        churned_after_days=200,
    )
    result = dg.materialize([campaign_lift_table], resources=resources)
    materialization = result.asset_materializations_for_node("marts__campaign_lift")[0]
    assert materialization.metadata["churned_after_days"].value == 200
