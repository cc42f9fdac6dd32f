"""Models retrained on a cadence: the first run trains (nothing is promoted), a later day within
``WEIXI_RETRAIN_EVERY_DAYS`` scores with the promoted versions without refitting (the registry
stays as it was, the score tables are rewritten for the new reference date), and a day past the
cadence trains again."""

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml import ltv, personas, registry
from ml.churn import MODEL_NAME as CHURN
from ml.recommend import MODEL_NAME as RECOMMEND
from ml.sentiment import MODEL_NAME as SENTIMENT
from orchestration.defs.ml.churn import churn_model, churn_scores
from orchestration.defs.ml.personas import customer_personas
from orchestration.defs.ml.recommendations import recommendations
from orchestration.defs.ml.sentiment import text_sentiment
from orchestration.defs.ml.value import customer_value
from tests.support import ML_END, weixi_resources

ASSETS = [churn_model, churn_scores, customer_value, customer_personas, recommendations]
MODELS = (CHURN, ltv.MODEL, personas.MODEL, RECOMMEND)
MODEL_KEYS = (
    ["ml", "churn_model"],
    ["marts", "customer_value"],
    ["marts", "customer_personas"],
    ["marts", "recommendations"],
)


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _move_to(warehouse: Path, day) -> None:
    """Make ``day`` the reference date, as the next nights' dbt run would (the scoring snapshot
    of the churn features moves with it)."""
    with duckdb.connect(str(warehouse)) as con:
        (kind,) = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'intermediate' and table_name = 'int_reference_date__selected'"
        ).fetchone()
        kind = "view" if kind == "VIEW" else "table"
        con.execute(f"drop {kind} intermediate.int_reference_date__selected")
        con.execute(
            "create table intermediate.int_reference_date__selected as "
            "select ?::date as reference_date",
            [day],
        )
        con.execute(
            "update features.churn_feature_snapshots set as_of = ? where is_scoring_snapshot", [day]
        )


def _registry(root: Path) -> dict[str, tuple[list[str], str]]:
    return {m: (registry.versions(root, m), registry.promoted(root, m).version) for m in MODELS}


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ml_warehouse, ml_landing):
    """A copy of the two-year warehouse on which the models were trained once (nothing was
    promoted before)."""
    warehouse = tmp_path_factory.mktemp("cadence") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    result = dg.materialize(ASSETS, resources=weixi_resources(warehouse, ml_landing))
    assert result.success
    return warehouse, result


def _next_night(trained, tmp_path, ml_landing, days: int):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(trained[0], warehouse)
    shutil.copytree(trained[0].parent / "models", tmp_path / "models")
    day = ML_END + timedelta(days=days)
    _move_to(warehouse, day)
    result = dg.materialize(ASSETS, resources=weixi_resources(warehouse, ml_landing))
    assert result.success
    return warehouse, day, result


def test_the_first_run_trains_every_model_because_none_is_promoted(trained):
    warehouse, result = trained
    root = warehouse.parent / "models"
    for model in MODELS:
        assert registry.promoted(root, model).trained_on == ML_END, model
    for key in MODEL_KEYS:
        assert _metadata(result, key)["model_run"] == (
            "retrained (no promoted model with a training date)"
        ), key


def test_a_night_within_the_cadence_scores_with_the_promoted_models(trained, tmp_path, ml_landing):
    before = _registry(trained[0].parent / "models")
    validation_before = _query(trained[0], "select * from marts.model_validation order by all")
    warehouse, day, result = _next_night(trained, tmp_path, ml_landing, days=3)
    assert _registry(tmp_path / "models") == before, "no model was refitted"
    model = _metadata(result, ["ml", "churn_model"])
    assert model["trained"] is False
    churn_version = before[CHURN][1]
    assert model["model_run"] == f"scored with model {churn_version} trained on {ML_END}"
    scores = _query(warehouse, "select distinct as_of, model_version from marts.churn_scores")
    assert scores.values.tolist() == [[pd.Timestamp(day), churn_version]]
    value = _query(
        warehouse, "select distinct reference_date, model_version from marts.customer_value"
    )
    assert value.values.tolist() == [[pd.Timestamp(day), before[ltv.MODEL][1]]]
    assert _metadata(result, ["marts", "customer_value"])["model_run"] == (
        f"scored with model {before[ltv.MODEL][1]} trained on {ML_END}"
    )
    persona = _query(
        warehouse, "select distinct reference_date, model_version from marts.customer_personas"
    )
    assert persona.values.tolist() == [[pd.Timestamp(day), before[personas.MODEL][1]]]
    recommended = _query(warehouse, "select distinct model_version from marts.recommendations")
    assert recommended.values.tolist() == [[before[RECOMMEND][1]]]
    assert _metadata(result, ["marts", "recommendations"])["customers"] > 1000
    pd.testing.assert_frame_equal(
        _query(warehouse, "select * from marts.model_validation order by all"), validation_before
    )


def test_a_night_past_the_cadence_retrains(trained, tmp_path, ml_landing):
    before = _registry(trained[0].parent / "models")
    warehouse, day, result = _next_night(trained, tmp_path, ml_landing, days=7)
    root = tmp_path / "models"
    for model in MODELS:
        assert len(registry.versions(root, model)) == len(before[model][0]) + 1, model
    assert registry.latest(root, CHURN).trained_on == day
    assert registry.promoted(root, ltv.MODEL).trained_on == day
    assert registry.promoted(root, personas.MODEL).version == f"kmeans@{day}"
    assert registry.promoted(root, RECOMMEND).version == f"item_similarity-{day}"
    for key in MODEL_KEYS:
        assert _metadata(result, key)["model_run"].startswith(
            f"retrained (last trained as of {ML_END}, 7 days ago"
        ), key


def test_the_text_model_follows_the_last_text_delivery(ml_warehouse, ml_landing, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    resources = weixi_resources(warehouse, ml_landing)
    first = dg.materialize([text_sentiment], resources=resources)
    (version,) = registry.versions(tmp_path / "models", SENTIMENT)
    assert registry.promoted(tmp_path / "models", SENTIMENT).trained_on == ML_END
    assert _metadata(first, ["ml", "text_sentiment"])["model_run"].startswith("retrained")
    again = dg.materialize([text_sentiment], resources=resources)
    assert registry.versions(tmp_path / "models", SENTIMENT) == [version]
    assert _metadata(again, ["ml", "text_sentiment"])["model_run"] == (
        f"scored with model {version} trained on {ML_END}"
    )
    scored = _query(warehouse, "select distinct model_version from ml.text_sentiment")
    assert scored.values.tolist() == [[version]]
