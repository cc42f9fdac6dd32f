"""The retraining cadence of the model registry: train when nothing is promoted, when the last
training is old enough, or when it saw days after the reference date; score otherwise."""

from datetime import date, timedelta

from ml import registry

DAY = date(2025, 12, 30)


def _register(root, trained_on: date, promote: bool = True) -> str:
    version = registry.register(root, "m", {"weights": 1}, {}, trained_on=trained_on).version
    if promote:
        registry.promote(root, "m", version, "test")
    return version


def test_nothing_promoted_trains(tmp_path):
    cadence = registry.cadence(tmp_path, "m", DAY, 7)
    assert cadence.retrain and cadence.promoted is None
    assert cadence.description == "retrained (no promoted model with a training date)"
    _register(tmp_path, DAY, promote=False)
    assert registry.cadence(tmp_path, "m", DAY, 7).retrain


def test_within_the_cadence_scores_with_the_promoted_version(tmp_path):
    version = _register(tmp_path, DAY)
    for days in (0, 1, 6):
        cadence = registry.cadence(tmp_path, "m", DAY + timedelta(days=days), 7)
        assert not cadence.retrain
        assert cadence.promoted.version == version
        assert cadence.description == f"scored with model {version} trained on {DAY}"


def test_past_the_cadence_trains(tmp_path):
    _register(tmp_path, DAY)
    cadence = registry.cadence(tmp_path, "m", DAY + timedelta(days=7), 7)
    assert cadence.retrain
    assert cadence.description == (
        f"retrained (last trained as of {DAY}, 7 days ago; retrained every 7)"
    )
    assert registry.cadence(tmp_path, "m", DAY, 0).retrain, "0 trains on every run"


def test_a_model_newer_than_the_reference_date_is_not_used_for_a_backfill(tmp_path):
    _register(tmp_path, DAY)
    cadence = registry.cadence(tmp_path, "m", DAY - timedelta(days=1), 7)
    assert cadence.retrain and "is after" in cadence.reason


def test_a_rejected_candidate_restarts_the_cadence(tmp_path):
    promoted = _register(tmp_path, DAY)
    later = DAY + timedelta(days=7)
    rejected = _register(tmp_path, later, promote=False)
    assert registry.latest(tmp_path, "m").version == rejected
    cadence = registry.cadence(tmp_path, "m", later + timedelta(days=1), 7)
    assert not cadence.retrain and cadence.promoted.version == promoted


def test_a_version_registered_without_a_training_date_is_retrained(tmp_path):
    version = registry.register(tmp_path, "m", {"weights": 1}, {}).version
    registry.promote(tmp_path, "m", version, "before the cadence existed")
    assert registry.promoted(tmp_path, "m").trained_on is None
    assert registry.cadence(tmp_path, "m", DAY, 7).retrain
