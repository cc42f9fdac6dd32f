"""The churn feature table holds the training snapshots only on nights the churn model retrains:
dbt and the churn model asset ask the same cadence (``Models.churn_cadence``), so a night that
only scores builds the reference date's snapshot alone and still scores every active customer,
and a night that retrains finds every training snapshot it needs."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ml import registry
from ml.churn import MODEL_NAME
from orchestration.defs.dbt.assets import dbt_model_assets
from orchestration.defs.ml.churn import FEATURES, MODEL, SCORES, churn_model, churn_scores
from tests.support import ML_END, weixi_resources

TRAINING_SNAPSHOTS = 12
"""``churn_training_snapshots`` of the default settings."""


def _night(warehouse: Path, landing: Path, **settings: object) -> dg.ExecuteInProcessResult:
    """The churn features (dbt), the churn model and its scores, as a night runs them."""
    result = dg.materialize(
        [dbt_model_assets().models, churn_model, churn_scores],
        selection=[FEATURES, MODEL, SCORES],
        resources=weixi_resources(warehouse, landing, **settings),
    )
    assert result.success
    return result


def _snapshots(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select as_of, is_scoring_snapshot, count(churned) > 0 as labelled "
            "from features.churn_feature_snapshots group by all order by as_of desc"
        ).fetchall()


def _scores(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select as_of, model_version, count(*) from marts.churn_scores group by all"
        ).fetchall()


def _trained(result: dg.ExecuteInProcessResult) -> bool:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == MODEL]
    return event.materialization.metadata["trained"].value


def _copy(night: tuple[Path, object], folder: Path) -> Path:
    warehouse, _ = night
    shutil.copy(warehouse, folder / warehouse.name)
    shutil.copytree(warehouse.parent / "models", folder / "models")
    return folder / warehouse.name


@pytest.fixture(scope="module")
def first_night(tmp_path_factory, ml_warehouse, ml_landing):
    """A copy of the two-year warehouse after a night with no churn model promoted yet."""
    warehouse = tmp_path_factory.mktemp("churn_first_night") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    return warehouse, _night(warehouse, ml_landing)


def test_with_no_promoted_model_the_training_snapshots_are_built_and_the_model_trains(
    first_night,
):
    warehouse, result = first_night
    snapshots = _snapshots(warehouse)
    assert len(snapshots) == TRAINING_SNAPSHOTS + 1
    assert snapshots[0][:2] == (ML_END, True)
    assert all(labelled for _, scoring, labelled in snapshots if not scoring)
    assert _trained(result)
    assert registry.promoted(warehouse.parent / "models", MODEL_NAME).trained_on == ML_END


def test_a_night_within_the_cadence_builds_only_the_scoring_snapshot_and_scores(
    first_night, tmp_path, ml_landing
):
    warehouse = _copy(first_night, tmp_path)
    promoted = registry.promoted(tmp_path / "models", MODEL_NAME).version
    result = _night(warehouse, ml_landing)
    assert _snapshots(warehouse) == [(ML_END, True, False)]
    assert not _trained(result)
    assert registry.versions(tmp_path / "models", MODEL_NAME) == [promoted]
    ((as_of, version, customers),) = _scores(warehouse)
    assert (as_of, version) == (ML_END, promoted)
    assert customers == _scores(first_night[0])[0][2]


def test_a_night_past_the_cadence_builds_the_training_snapshots_and_retrains(
    first_night, tmp_path, ml_landing
):
    warehouse = _copy(first_night, tmp_path)
    _night(warehouse, ml_landing)
    assert len(_snapshots(warehouse)) == 1
    result = _night(warehouse, ml_landing, retrain_every_days=0)
    assert len(_snapshots(warehouse)) == TRAINING_SNAPSHOTS + 1
    assert _trained(result)
    assert len(registry.versions(tmp_path / "models", MODEL_NAME)) == 2
