"""The churn model library: metrics, the out-of-time split, learning, reasons, risk bands and
the registry's promotion rules, on hand-made and generated snapshot frames."""

import json
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml import registry
from ml.churn import (
    GRADIENT_BOOSTING,
    LOGISTIC_REGRESSION,
    decide,
    evaluate,
    fit_gradient_boosting,
    fit_logistic_regression,
    risk_band,
    score,
    split_out_of_time,
    train_candidate,
)
from ml.churn_features import model_matrix
from ml.churn_reasons import NO_WARNING_SIGNS, explain
from ml.churn_synthetic import synthetic_snapshots
from ml.classification_metrics import calibration_bins, classification_metrics, top_decile_lift
from ml.history import NotEnoughHistory


@pytest.fixture(scope="module")
def snapshots() -> pd.DataFrame:
    return synthetic_snapshots(2500, snapshots=5, seed=3)


@pytest.fixture(scope="module")
def candidate(snapshots):
    return train_candidate(snapshots)


def _shuffled_training_labels(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The same snapshots with the training labels (not the validation ones) permuted."""
    shuffled = snapshots.copy()
    labelled = shuffled["churned"].notna()
    training = labelled & (shuffled["as_of"] < shuffled.loc[labelled, "as_of"].max())
    rng = np.random.default_rng(0)
    shuffled.loc[training, "churned"] = rng.permutation(shuffled.loc[training, "churned"])
    return shuffled


def test_metrics_of_known_forecasts():
    outcome = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    perfect = classification_metrics(outcome, outcome * 0.9 + 0.05)
    assert perfect.roc_auc == perfect.pr_auc == 1.0
    assert perfect.brier == pytest.approx(0.0025)
    # The top tenth (1 row) is a churner: rate 1 against 0.2 overall.
    assert perfect.top_decile_lift == pytest.approx(5.0)
    assert top_decile_lift(outcome, np.full(10, 0.5)) == pytest.approx(5.0)  # first row by ties
    assert top_decile_lift(outcome[::-1], np.full(10, 0.5)) == 0.0
    backwards = classification_metrics(outcome, 1 - outcome)
    assert backwards.roc_auc == 0.0 and backwards.brier == 1.0


def _hand_made(dates_and_labels: list[tuple[str, list[bool | None]]]) -> pd.DataFrame:
    rows = []
    for as_of, labels in dates_and_labels:
        for i, label in enumerate(labels):
            rows.append(
                {
                    "customer_id": f"C{i}",
                    "as_of": pd.Timestamp(as_of),
                    "label_window_end": pd.Timestamp(as_of) + pd.Timedelta(days=90),
                    "churned": label,
                }
            )
    frame = pd.DataFrame(rows)
    frame["churned"] = frame["churned"].astype("boolean")
    return frame


def test_split_validates_on_the_latest_labels_and_trains_on_ended_windows():
    labels = [True, False] * 20
    frame = _hand_made(
        [
            ("2025-01-01", labels),
            ("2025-01-31", labels),  # window ends 2025-05-01: on the validation date
            ("2025-03-01", labels),  # its window ends 2025-05-30: after the validation date
            ("2025-04-01", labels),  # window ends 2025-06-30: too recent to train on
            ("2025-05-01", labels),  # the validation snapshot
            ("2025-08-01", [None] * 40),  # the scoring snapshot: no labels
        ]
    )
    split = split_out_of_time(frame)
    assert split.validation_as_of == date(2025, 5, 1)
    assert len(split.validation) == 40
    assert split.train_as_of == (date(2025, 1, 1), date(2025, 1, 31))
    assert (split.train["label_window_end"] <= pd.Timestamp("2025-05-01")).all()


@pytest.mark.parametrize(
    ("dates_and_labels", "missing"),
    [
        ([("2025-08-01", [None] * 40)], "no labelled snapshot"),
        ([("2025-04-01", [True, False] * 20), ("2025-05-01", [True, False] * 20)], "too recent"),
        (
            [("2025-01-01", [True] * 39 + [False]), ("2025-05-01", [True, False] * 20)],
            "39 churners and 1 stayers",
        ),
    ],
)
def test_too_little_history_is_not_enough_history(dates_and_labels, missing):
    with pytest.raises(NotEnoughHistory, match=missing):
        split_out_of_time(_hand_made(dates_and_labels))


def test_candidate_beats_the_recency_baseline_out_of_time(candidate):
    assert candidate.model.kind in {GRADIENT_BOOSTING, LOGISTIC_REGRESSION}
    assert set(candidate.competitors) == {GRADIENT_BOOSTING, LOGISTIC_REGRESSION}
    model, baseline = candidate.metrics, candidate.baseline_metrics
    assert model.brier == min(m.brier for m in candidate.competitors.values())
    # The planted rhythm and complaint effects are worth far more than noise.
    assert model.roc_auc > baseline.roc_auc + 0.03
    assert model.pr_auc > baseline.pr_auc
    assert model.brier < baseline.brier - 0.01
    assert model.top_decile_lift > 1.3
    assert decide(candidate, None, None).promote


def test_a_model_that_learns_nothing_is_caught(snapshots, candidate):
    broken = train_candidate(_shuffled_training_labels(snapshots))
    rate = broken.metrics.positive_rate
    # No skill: about the Brier score of always saying the churn rate, far from the real model.
    assert broken.metrics.brier > rate * (1 - rate) - 0.01
    assert broken.metrics.brier > candidate.metrics.brier + 0.05
    decision = decide(broken, candidate.model, "good-version")
    assert not decision.promote
    assert decision.reason.startswith("not promoted")


def test_reasons_describe_the_customers_own_figures(snapshots, candidate):
    scoring = snapshots[snapshots["is_scoring_snapshot"]].head(2).copy()
    lapsed, unhappy = scoring.index
    # A lapsed regular, and an active customer whose complaints were answered late.
    scoring.loc[lapsed, ["recency_days", "mean_gap_days", "recency_gap_ratio"]] = [300, 30, 10]
    scoring.loc[lapsed, "purchases"] = 11
    scoring.loc[unhappy, ["recency_days", "mean_gap_days", "recency_gap_ratio"]] = [20, 30, 0.67]
    scoring.loc[unhappy, ["purchases", "complaints", "late_reply_complaints"]] = [11, 2, 2]
    scoring.loc[unhappy, ["badly_handled_complaints", "uncompensated_serious_complaints"]] = [2, 0]
    reasons = explain(candidate.model, scoring)
    assert reasons.loc[0, "reason_1"] == "no purchase for 300 days, 10x the usual gap"
    assert reasons.loc[1, "reason_1"] == "2 complaints answered late"
    assert "no purchase for 20 days" not in reasons.iloc[1].dropna().tolist()


def test_every_score_has_a_probability_band_and_worded_reasons(snapshots, candidate):
    scoring = snapshots[snapshots["is_scoring_snapshot"]]
    scored = score(candidate.model, scoring, medium_from=0.4, high_from=0.7)
    assert len(scored) == len(scoring)
    assert scored["churn_probability"].between(0, 1).all()
    assert set(scored["risk_band"]) == {"low", "medium", "high"}
    assert (scored["reason_1"] == NO_WARNING_SIGNS).any()
    words = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,.%/+()-]*[A-Za-z0-9%)]")
    for column in ("reason_1", "reason_2", "reason_3"):
        texts = scored[column].dropna()
        worded = texts.map(lambda t: bool(words.fullmatch(t) and re.search("[a-z]{3}", t)))
        assert worded.all(), texts[~worded][:5].tolist()
        assert not texts.str.contains("nan|<NA>|None").any()
    # A customer's reasons are different groups, so never the same text twice.
    pairs = scored.dropna(subset=["reason_2"])
    assert (pairs["reason_1"] != pairs["reason_2"]).all()
    again = score(candidate.model, scoring, medium_from=0.4, high_from=0.7)
    pd.testing.assert_frame_equal(scored, again)


def test_risk_bands_follow_the_cut_offs():
    bands = risk_band(np.array([0.0, 0.39, 0.4, 0.69, 0.7, 1.0]), medium_from=0.4, high_from=0.7)
    assert bands.tolist() == ["low", "low", "medium", "medium", "high", "high"]


def test_logistic_reasons_equal_the_what_if_on_the_model(snapshots):
    from ml.churn_features import group_columns, model_matrix
    from ml.churn_reasons import group_contributions

    model = fit_logistic_regression(snapshots[snapshots["churned"].notna()])
    matrix = model_matrix(snapshots.head(50), model.features)
    groups, contributions = group_contributions(model, matrix)
    base = model.explainer.decision_function(matrix)
    for g, columns in enumerate(group_columns(model.features).values()):
        typical = matrix.copy()
        typical[:, columns] = model.reference[columns]
        expected = base - model.explainer.decision_function(typical)
        np.testing.assert_allclose(contributions[:, g], expected, atol=1e-9)
    assert groups[0] == "recency"


def test_tree_reasons_equal_the_what_if_on_the_whole_model(snapshots):
    from ml.churn_features import group_columns, model_matrix
    from ml.churn_reasons import group_contributions

    model = fit_gradient_boosting(snapshots[snapshots["churned"].notna()])
    matrix = model_matrix(snapshots.head(3000), model.features)
    # Some customers exactly typical in a group, and a missing value the trees route aside.
    matrix[:50, :2] = model.reference[:2]
    matrix[50:60, 5] = np.nan
    needed = np.ones((len(matrix), len(group_columns(model.features))), dtype=bool)
    needed[::7, 3] = False
    groups, contributions = group_contributions(model, matrix, needed)
    base = model.explainer.decision_function(matrix)
    for g, columns in enumerate(group_columns(model.features).values()):
        typical = matrix.copy()
        typical[:, columns] = model.reference[columns]
        expected = np.where(
            needed[:, g], base - model.explainer.decision_function(typical), -np.inf
        )
        np.testing.assert_allclose(contributions[:, g], expected, atol=1e-9)
    assert (contributions[:50, 0] == 0).all()
    assert groups[0] == "recency"


def test_tree_scores_from_the_reasons_pass_equal_predict_proba(snapshots):
    """score() takes the trees' probability from the leaves its reasons' pass reached: the same
    floats as scikit-learn's predict_proba, not merely close."""
    model = fit_gradient_boosting(snapshots[snapshots["churned"].notna()])
    scoring = snapshots[snapshots["is_scoring_snapshot"]]
    scored = score(model, scoring, medium_from=0.4, high_from=0.7)
    expected = model.estimator.predict_proba(model_matrix(scoring, model.features))[:, 1]
    np.testing.assert_array_equal(scored["churn_probability"].to_numpy(), expected)


def test_registry_keeps_versions_and_the_promoted_pointer(tmp_path, candidate):
    assert registry.promoted(tmp_path, "churn") is None
    first = registry.register(tmp_path, "churn", candidate.model, candidate.summary())
    second = registry.register(tmp_path, "churn", candidate.model, candidate.summary())
    assert registry.versions(tmp_path, "churn") == sorted([first.version, second.version])
    registry.promote(tmp_path, "churn", first.version, "first")
    current = registry.promoted(tmp_path, "churn")
    assert current.version == first.version
    meta = json.loads((first.path / "metadata.json").read_text())
    for key in ("training_window", "training_snapshots", "validation_snapshot", "features"):
        assert meta[key]
    assert meta["metrics"]["brier"] == candidate.metrics.brier
    assert meta["baseline"]["metrics"]["brier"] == candidate.baseline_metrics.brier
    assert meta["code_version"]["ml_sources_sha256"]
    assert "git_commit" in meta["code_version"] or meta["code_version"]["package_version"]
    loaded = current.load()
    scoring = candidate.split.validation
    np.testing.assert_allclose(loaded.probability(scoring), candidate.model.probability(scoring))
    with pytest.raises(FileNotFoundError, match="no-such-version"):
        registry.promote(tmp_path, "churn", "no-such-version", "typo")
    assert registry.promoted(tmp_path, "churn").version == first.version
    assert not list(tmp_path.rglob("*.tmp"))


def test_promotion_rules_say_why():
    worse_than_baseline = registry.decide_promotion("brier", 0.20, 0.18)
    assert not worse_than_baseline.promote
    assert "does not beat the baseline (brier 0.2000 against 0.1800" in worse_than_baseline.reason
    worse_than_promoted = registry.decide_promotion("brier", 0.16, 0.18, 0.15, "v1")
    assert not worse_than_promoted.promote
    assert "promoted model v1 validates better" in worse_than_promoted.reason
    better = registry.decide_promotion("brier", 0.14, 0.18, 0.15, "v1")
    assert better.promote and "v1 (0.1500)" in better.reason
    tie = registry.decide_promotion("brier", 0.15, 0.18, 0.15, "v1")
    assert tie.promote
    first = registry.decide_promotion("roc_auc", 0.8, 0.7, lower_is_better=False)
    assert first.promote and "no promoted model" in first.reason


def test_a_promoted_model_that_cannot_score_todays_snapshots_does_not_block(candidate):
    stale = fit_logistic_regression(candidate.split.train)
    stale.features = (*stale.features, "a_feature_that_was_removed")
    decision = decide(candidate, stale, "old")
    assert decision.promote
    assert "cannot score today's snapshots" in decision.reason
    assert evaluate(candidate.model, candidate.split.validation) == candidate.metrics


def test_calibration_bins_cover_every_forecast() -> None:
    bins = calibration_bins(np.array([0, 1, 1, 0, 1]), np.array([0.05, 0.15, 0.19, 0.5, 1.0]))
    assert [(b.low, b.rows) for b in bins] == [(0.0, 1), (0.1, 2), (0.5, 1), (0.9, 1)]
    assert bins[1].observed == 1.0 and bins[1].predicted == pytest.approx(0.17)


def test_the_candidate_carries_its_calibration_curve(candidate):
    bins = candidate.calibration
    assert sum(b.rows for b in bins) == candidate.metrics.rows
    assert all(b.low <= b.predicted <= b.high for b in bins)
    # A calibrated model: where many customers sit, the share that churned is near the forecast.
    crowded = [b for b in bins if b.rows >= 100]
    assert crowded and all(abs(b.observed - b.predicted) < 0.15 for b in crowded)
