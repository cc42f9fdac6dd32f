"""The churn assets on real warehouses: point-in-time features that later data cannot change,
a model that beats recency out of time on two years of demo data and learns the planted
complaint effect, scores for every active customer, promotion rules, and a young shop."""

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml import registry
from ml.churn import MODEL_NAME
from orchestration.defs.dbt.resource import dbt_resource
from orchestration.defs.ml.churn import (
    COVERAGE_CHECK,
    PROMOTION_CHECK,
    churn_model,
    churn_scores,
)
from orchestration.settings import get_settings
from tests.support import DEMO_END, DEMO_START, ML_END, loading_assets, range_tags, weixi_resources

CHURN_ASSETS = [churn_model, churn_scores]


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _check(
    result: dg.ExecuteInProcessResult, name: str = PROMOTION_CHECK
) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ml_warehouse, ml_landing):
    """A copy of the two-year warehouse with the churn model trained, promoted and scored."""
    warehouse = tmp_path_factory.mktemp("churn") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    result = dg.materialize(CHURN_ASSETS, resources=weixi_resources(warehouse, ml_landing))
    assert result.success
    return warehouse, result


def test_the_model_beats_recency_out_of_time_and_is_promoted(trained):
    warehouse, result = trained
    figures = _metadata(result, ["ml", "churn_model"])
    assert figures["trained"] and figures["promoted"]
    assert figures["roc_auc"] > figures["roc_auc (recency_only)"]
    assert figures["pr_auc"] > figures["pr_auc (recency_only)"]
    assert figures["brier"] < figures["brier (recency_only)"] - 0.005
    assert figures["roc_auc"] > 0.8
    assert figures["validation_snapshot"] == (ML_END - timedelta(days=90)).isoformat()
    check = _check(result)
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("promoted: brier")


def test_the_promoted_version_is_in_the_registry_with_its_figures(trained):
    warehouse, result = trained
    root = warehouse.parent / "models"
    version = _metadata(result, ["ml", "churn_model"])["model_version"]
    assert registry.versions(root, MODEL_NAME) == [version]
    assert registry.promoted(root, MODEL_NAME).version == version
    meta = json.loads((root / MODEL_NAME / version / "metadata.json").read_text())
    assert meta["horizon_days"] == get_settings().churn_horizon_days
    assert len(meta["training_snapshots"]) >= 6
    assert meta["training_window"]["last_label_day"] <= meta["validation_snapshot"]
    assert meta["promotion"]["promoted"] is True
    validation = _query(warehouse, "select * from marts.model_validation where model = 'churn'")
    assert set(validation["model_version"]) == {version}
    by_metric = validation.set_index("metric")
    for metric in ("roc_auc", "pr_auc", "brier", "top_decile_lift"):
        assert by_metric.loc[metric, "baseline"] == "recency_only"
        assert by_metric.loc[metric, "value"] == pytest.approx(meta["metrics"][metric])
        assert by_metric.loc[metric, "baseline_value"] == pytest.approx(
            meta["baseline"]["metrics"][metric]
        )
    # The reliability diagram the nightly report draws: every validation row in one bin.
    calibration = by_metric.filter(like="calibration_bin_", axis=0)["value"]
    assert calibration.filter(like="_rows").sum() == by_metric.loc["validation_rows", "value"]
    assert calibration.between(0, by_metric.loc["validation_rows", "value"]).all()


def test_every_active_customer_gets_a_score_band_and_reasons(trained):
    warehouse, result = trained
    scores = _query(warehouse, "select * from marts.churn_scores")
    active = _query(
        warehouse,
        "select customer_id from marts.customer_360 "
        "where lifecycle_stage not in ('prospect', 'churned')",
    )
    assert scores["customer_id"].is_unique
    assert set(scores["customer_id"]) == set(active["customer_id"])
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["risk_band"]) == {"low", "medium", "high"}
    assert scores["reason_1"].str.contains("[a-z]{3}", regex=True).all()
    assert (scores["as_of"] == pd.Timestamp(ML_END)).all()
    version = _metadata(result, ["ml", "churn_model"])["model_version"]
    assert (scores["model_version"] == version).all()
    meta = _metadata(result, ["marts", "churn_scores"])
    assert meta["dagster/row_count"] == len(scores)
    assert "customer_name" not in meta["preview (highest risk, no PII)"]
    assert _check(result, COVERAGE_CHECK).passed


def test_the_model_learns_the_planted_churn_after_bad_complaint_handling(trained, ml_landing):
    warehouse, _ = trained
    scores = _query(
        warehouse,
        "select s.*, f.recency_days from marts.churn_scores s "
        "join features.churn_feature_snapshots f using (customer_id, as_of)",
    )
    truth = pd.read_parquet(ml_landing / "_truth" / "customers.parquet")
    scores = scores.merge(truth[["customer_id", "churned_after_complaint_at"]], on="customer_id")
    # Customers who stopped buying after a badly handled complaint in the last 60 days have not
    # been gone long enough for recency to tell; the handling must.
    left = scores["churned_after_complaint_at"].between(
        pd.Timestamp(ML_END - timedelta(days=60)), pd.Timestamp(ML_END)
    )
    recent_others = ~left & (scores["recency_days"] <= 60)
    assert left.sum() >= 5
    gap = (
        scores.loc[left, "churn_probability"].mean()
        - scores.loc[recent_others, "churn_probability"].mean()
    )
    assert gap > 0.2
    assert scores.loc[left, "reason_1"].str.contains("complaint").mean() >= 0.8


def test_rescoring_gives_the_same_table(trained, ml_landing):
    warehouse, _ = trained
    before = _query(warehouse, "select * from marts.churn_scores order by customer_id")
    result = dg.materialize([churn_scores], resources=weixi_resources(warehouse, ml_landing))
    assert result.success
    after = _query(warehouse, "select * from marts.churn_scores order by customer_id")
    pd.testing.assert_frame_equal(before, after)


def test_a_worse_candidate_is_not_promoted_and_the_check_says_why(trained, ml_landing, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(trained[0], warehouse)
    shutil.copytree(trained[0].parent / "models", tmp_path / "models")
    promoted_before = registry.promoted(tmp_path / "models", MODEL_NAME).version
    with duckdb.connect(str(warehouse)) as con:
        # Noise for training labels (validation labels stay true): a model that learns nothing.
        con.execute(
            """update features.churn_feature_snapshots
               set churned = hash(customer_id || cast(as_of as varchar)) % 2 = 0
               where churned is not null and as_of < (
                   select max(as_of) from features.churn_feature_snapshots
                   where churned is not null)"""
        )
    # The same reference date again: only a cadence of 0 days trains again.
    resources = weixi_resources(warehouse, ml_landing, retrain_every_days=0)
    result = dg.materialize(CHURN_ASSETS, resources=resources)
    assert result.success, "a rejected candidate is a warning, not a failed night"
    check = _check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("not promoted")
    assert f"{promoted_before}" in check.description or "baseline" in check.description
    assert registry.promoted(tmp_path / "models", MODEL_NAME).version == promoted_before
    assert len(registry.versions(tmp_path / "models", MODEL_NAME)) == 2
    scores = _query(warehouse, "select distinct model_version from marts.churn_scores")
    assert scores["model_version"].tolist() == [promoted_before]


def test_a_young_shop_gets_an_empty_scores_table_and_a_warning(
    pipeline_warehouse, demo_landing, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    result = dg.materialize(CHURN_ASSETS, resources=weixi_resources(warehouse, demo_landing))
    assert result.success
    check = _check(result)
    assert not check.passed and "needs" in check.description
    assert _metadata(result, ["ml", "churn_model"])["trained"] is False
    assert (
        "no churn model has been promoted" in _metadata(result, ["marts", "churn_scores"])["reason"]
    )
    coverage = _check(result, COVERAGE_CHECK)
    assert not coverage.passed and "no churn model has been promoted" in coverage.description
    scores = _query(warehouse, "select * from marts.churn_scores")
    assert scores.empty
    assert list(scores.columns) == [
        "customer_id",
        "as_of",
        "churn_probability",
        "risk_band",
        "reason_1",
        "reason_2",
        "reason_3",
        "model_version",
    ]
    assert not (tmp_path / "models" / MODEL_NAME).exists() or not registry.versions(
        tmp_path / "models", MODEL_NAME
    )


def _point_in_time_features(warehouse: Path, as_of: date, select: str) -> pd.DataFrame:
    """Build ``select`` with the snapshots as of ``as_of`` and short horizons (the demo has 75
    days) with dbt, and read the snapshots."""
    dbt = dbt_resource(get_settings())
    variables = {
        **dbt.vars_for(str(warehouse)),
        "as_of_date": as_of.isoformat(),
        "churn_horizon_days": 14,
        "churn_snapshot_step_days": 7,
        "churn_training_snapshots": 4,
    }
    dbt.cli(
        [
            "run",
            "--select",
            select,
            "--vars",
            json.dumps(variables),
        ]
    ).wait()
    return _query(warehouse, "select * from features.churn_feature_snapshots order by all")


def test_features_at_an_old_date_do_not_change_when_later_data_arrives(
    pipeline_warehouse, demo_landing, tmp_path
):
    """The snapshots as of a cutoff, built from the deliveries up to the cutoff (loaded by the
    ingestion assets, then dbt), equal those built from all 75 days (the session's pipeline
    warehouse: the same as loading the later days on top, as the chunked-backfill test
    shows)."""
    cutoff = DEMO_END - timedelta(days=20)
    then = tmp_path / "then.duckdb"
    result = dg.materialize(
        loading_assets(),
        resources=weixi_resources(then, demo_landing),
        tags=range_tags(DEMO_START, cutoff),
    )
    assert result.success
    known_then = _point_in_time_features(then, cutoff, "+churn_feature_snapshots")

    now = tmp_path / "now.duckdb"
    shutil.copy(pipeline_warehouse[0], now)
    # The later days do change what the warehouse knows about orders placed by the cutoff.
    refunded_later = _query(
        now,
        f"""select count(*) as n from intermediate.int_orders__status_history h
            join marts.fct_orders o using (order_id)
            where o.order_date <= '{cutoff}' and h.refunded_at >= '{cutoff + timedelta(days=1)}'""",
    )["n"][0]
    assert refunded_later > 0
    known_now = _point_in_time_features(
        now, cutoff, "int_reference_date__selected churn_feature_snapshots"
    )

    assert known_then["as_of"].nunique() == 5
    assert known_then["churned"].notna().sum() > 100
    assert {True, False} <= set(known_then["churned"].dropna())
    pd.testing.assert_frame_equal(known_then, known_now)
