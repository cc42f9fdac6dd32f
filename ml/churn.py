"""The churn model: who will make no purchase in the horizon after the as-of date.

Snapshots in (``features.churn_feature_snapshots``: one row per customer and as-of date, with
the label ``churned``), a validated candidate out. Validation is out of time: the candidate is
trained on the snapshots whose label window had ended by the validation date and judged on the
latest fully labelled snapshot, as it would have been used then. Two candidates compete, a
calibrated gradient-boosting model and a standardised logistic regression; the one with the
lower validation Brier score wins, because the score is published and acted on as a
probability (how many of these customers will go), so calibration matters as much as ranking.
Both are compared with a recency-only model, the rule of thumb every shop already has.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.churn_features import FEATURE_NAMES, FEATURE_RISK, LABEL, RECENCY_FEATURE, model_matrix
from ml.churn_reasons import explain_with_decision
from ml.classification_metrics import (
    CalibrationBin,
    ClassificationMetrics,
    calibration_bins,
    classification_metrics,
)
from ml.history import NotEnoughHistory
from ml.parallel import single_threaded
from ml.registry import PromotionDecision, decide_promotion

MODEL_NAME = "churn"
SELECTION_METRIC = "brier"
# Fewer churners or stayers than this in the training or validation rows: no honest model.
MIN_ROWS_PER_CLASS = 20
# Training rows beyond this are sampled: the model gains little from more, and a 1M-customer
# shop's twelve snapshots would otherwise take far longer than the nightly window allows.
MAX_TRAINING_ROWS = 400_000
GRADIENT_BOOSTING = "calibrated_gradient_boosting"
LOGISTIC_REGRESSION = "logistic_regression"
RECENCY_BASELINE = "recency_only"
RISK_BANDS = ("low", "medium", "high")


@dataclass
class ChurnModel:
    """A fitted churn model: probabilities from ``estimator``; reasons from ``explainer``, a
    score that rises with the probability (log-odds), and ``reference``, the typical value of
    each feature (training medians) that a customer's values are compared with."""

    kind: str
    features: tuple[str, ...]
    estimator: Any
    explainer: Any
    reference: np.ndarray

    def probability(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Churn probability of each snapshot row."""
        return self.probability_of(model_matrix(snapshots, self.features))

    def probability_of(self, matrix: np.ndarray, decision: np.ndarray | None = None) -> np.ndarray:
        """Churn probability of each row of the model matrix. ``decision``: the explainer's
        ``decision_function`` of those rows, when the caller has it (the reasons' pass over the
        trees finds it); a model that calibrates the explainer then only calibrates it."""
        if len(matrix) == 0:
            return np.empty(0)
        if decision is not None and self._calibrates_explainer():
            return _calibrated(self.estimator, decision)
        with single_threaded():
            return self.estimator.predict_proba(matrix)[:, 1]

    def _calibrates_explainer(self) -> bool:
        return isinstance(self.estimator, CalibratedClassifierCV) and all(
            isinstance(c.estimator, FrozenEstimator) and c.estimator.estimator is self.explainer
            for c in self.estimator.calibrated_classifiers_
        )


def _calibrated(estimator: CalibratedClassifierCV, decision: np.ndarray) -> np.ndarray:
    """What ``estimator.predict_proba(X)[:, 1]`` gives when its frozen classifier's
    ``decision_function(X)`` is ``decision``: the mean of its binary calibrators' outputs,
    summed and divided as scikit-learn does, so the same floats."""
    total = np.zeros(len(decision))
    for classifier in estimator.calibrated_classifiers_:
        (calibrator,) = classifier.calibrators
        total += calibrator.predict(decision)
    total /= len(estimator.calibrated_classifiers_)
    return total


@dataclass(frozen=True)
class OutOfTimeSplit:
    """Training rows (label window ended by the validation date) and validation rows (the
    latest fully labelled snapshot)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    train_as_of: tuple[date, ...]
    validation_as_of: date


@dataclass
class ChurnCandidate:
    """A trained and validated churn model, with its recency baseline and the figures of both
    on the same validation snapshot."""

    model: ChurnModel
    metrics: ClassificationMetrics
    baseline: ChurnModel
    baseline_metrics: ClassificationMetrics
    split: OutOfTimeSplit
    competitors: dict[str, ClassificationMetrics] = field(default_factory=dict)
    training_rows: int = 0
    calibration: list[CalibrationBin] = field(default_factory=list)
    """The chosen model's reliability diagram on the validation snapshot."""

    def summary(self) -> dict[str, Any]:
        """What the registry records about the training run."""
        return {
            "model_kind": self.model.kind,
            "selection_metric": SELECTION_METRIC,
            "features": list(self.model.features),
            "training_snapshots": [d.isoformat() for d in self.split.train_as_of],
            "training_window": {
                "first_as_of": min(self.split.train_as_of).isoformat(),
                "last_as_of": max(self.split.train_as_of).isoformat(),
                "last_label_day": pd.Timestamp(self.split.train["label_window_end"].max())
                .date()
                .isoformat(),
            },
            "validation_snapshot": self.split.validation_as_of.isoformat(),
            "training_rows": self.training_rows,
            "training_churn_rate": float(self.split.train[LABEL].astype(bool).mean()),
            "metrics": self.metrics.as_dict(),
            "baseline": {"kind": RECENCY_BASELINE, "metrics": self.baseline_metrics.as_dict()},
            "competitors": {k: m.as_dict() for k, m in self.competitors.items()},
        }


def labelled(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The snapshot rows whose label is known."""
    return snapshots[snapshots[LABEL].notna()]


def split_out_of_time(snapshots: pd.DataFrame) -> OutOfTimeSplit:
    """Validate on the latest labelled snapshot; train on the snapshots whose label window
    ended on or before its as-of date, so no training label overlaps the validation period.

    Raises ``NotEnoughHistory`` when either side is missing or lacks churners or stayers."""
    rows = labelled(snapshots)
    as_of = pd.to_datetime(rows["as_of"])
    if rows.empty:
        raise NotEnoughHistory(
            MODEL_NAME, "a snapshot whose churn horizon has ended", "no labelled snapshot"
        )
    validation_as_of = as_of.max()
    validation = rows[as_of == validation_as_of]
    train = rows[pd.to_datetime(rows["label_window_end"]) <= validation_as_of]
    if train.empty:
        raise NotEnoughHistory(
            MODEL_NAME,
            "a labelled snapshot whose horizon ends before the validation date "
            f"{validation_as_of.date()}",
            f"{as_of.nunique()} labelled snapshot(s), all too recent",
        )
    for name, part in (("training", train), ("validation", validation)):
        churners = int(part[LABEL].astype(bool).sum())
        stayers = len(part) - churners
        if min(churners, stayers) < MIN_ROWS_PER_CLASS:
            raise NotEnoughHistory(
                MODEL_NAME,
                f"{MIN_ROWS_PER_CLASS} churners and {MIN_ROWS_PER_CLASS} stayers in the {name} "
                "snapshots",
                f"{churners} churners and {stayers} stayers",
            )
    return OutOfTimeSplit(
        train=train,
        validation=validation,
        train_as_of=tuple(sorted(pd.Timestamp(d).date() for d in train["as_of"].unique())),
        validation_as_of=validation_as_of.date(),
    )


def _outcome(rows: pd.DataFrame) -> np.ndarray:
    return rows[LABEL].astype(bool).to_numpy().astype(int)


def fit_gradient_boosting(
    train: pd.DataFrame, features: tuple[str, ...] = FEATURE_NAMES, seed: int = 0
) -> ChurnModel:
    """Gradient-boosted trees, then Platt (sigmoid) calibration on a fifth of the customers the
    trees never saw (all snapshots of a customer stay on one side). One fit of the trees, so
    training stays fast at a million customers; sigmoid keeps the trees' ranking (isotonic
    would tie it)."""
    matrix, outcome = model_matrix(train, features), _outcome(train)
    fit_rows, calibration_rows = next(
        GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(
            matrix, outcome, groups=train["customer_id"]
        )
    )
    trees = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        monotonic_cst=[FEATURE_RISK[name] for name in features],
        random_state=seed,
    )
    with single_threaded():
        trees.fit(matrix[fit_rows], outcome[fit_rows])
        calibrated = CalibratedClassifierCV(FrozenEstimator(trees), method="sigmoid")
        calibrated.fit(matrix[calibration_rows], outcome[calibration_rows])
    return ChurnModel(
        kind=GRADIENT_BOOSTING,
        features=features,
        estimator=calibrated,
        explainer=trees,
        reference=np.median(matrix, axis=0),
    )


def fit_logistic_regression(
    train: pd.DataFrame,
    features: tuple[str, ...] = FEATURE_NAMES,
    kind: str = LOGISTIC_REGRESSION,
) -> ChurnModel:
    """Logistic regression on standardised features."""
    matrix = model_matrix(train, features)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    pipeline.fit(matrix, _outcome(train))
    return ChurnModel(
        kind=kind,
        features=features,
        estimator=pipeline,
        explainer=pipeline,
        reference=np.median(matrix, axis=0),
    )


def fit_recency_baseline(train: pd.DataFrame) -> ChurnModel:
    """The baseline: churn probability from days since the last purchase alone (logistic on
    its logarithm)."""
    return fit_logistic_regression(train, (RECENCY_FEATURE,), kind=RECENCY_BASELINE)


def evaluate(model: ChurnModel, rows: pd.DataFrame) -> ClassificationMetrics:
    """Validation figures of ``model`` on labelled snapshot ``rows``."""
    return classification_metrics(_outcome(rows), model.probability(rows))


def _sample(train: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(train) <= max_rows:
        return train
    return train.sample(n=max_rows, random_state=seed)


def train_candidate(
    snapshots: pd.DataFrame, seed: int = 0, max_training_rows: int = MAX_TRAINING_ROWS
) -> ChurnCandidate:
    """Split out of time, fit both candidates and the recency baseline on the training
    snapshots, keep the candidate with the lower validation Brier score.

    Raises ``NotEnoughHistory`` when the snapshots cannot support an honest validation."""
    split = split_out_of_time(snapshots)
    train = _sample(split.train, max_training_rows, seed)
    fitted = [fit_gradient_boosting(train, seed=seed), fit_logistic_regression(train)]
    figures = {model.kind: evaluate(model, split.validation) for model in fitted}
    best = min(fitted, key=lambda m: getattr(figures[m.kind], SELECTION_METRIC))
    baseline = fit_recency_baseline(train)
    return ChurnCandidate(
        model=best,
        metrics=figures[best.kind],
        baseline=baseline,
        baseline_metrics=evaluate(baseline, split.validation),
        split=split,
        competitors=figures,
        training_rows=len(train),
        calibration=calibration_bins(
            _outcome(split.validation), best.probability(split.validation)
        ),
    )


def decide(
    candidate: ChurnCandidate, promoted: ChurnModel | None, promoted_version: str | None
) -> PromotionDecision:
    """Promote ``candidate`` when its validation Brier score beats the recency baseline's and
    is no worse than the promoted model's on the same validation snapshot. A promoted model
    that cannot score today's snapshots (its features are gone) does not stand in the way."""
    promoted_brier, note = None, ""
    if promoted is not None:
        try:
            promoted_brier = evaluate(promoted, candidate.split.validation).brier
        except (KeyError, ValueError) as error:
            note = (
                f"; the promoted model {promoted_version} cannot score today's snapshots ({error})"
            )
    decision = decide_promotion(
        SELECTION_METRIC,
        candidate.metrics.brier,
        candidate.baseline_metrics.brier,
        promoted_brier,
        promoted_version if promoted_brier is not None else None,
    )
    return replace(decision, reason=decision.reason + note) if note else decision


def risk_band(probability: np.ndarray, medium_from: float, high_from: float) -> np.ndarray:
    """``high`` from ``high_from``, ``medium`` from ``medium_from``, else ``low``."""
    return np.select(
        [probability >= high_from, probability >= medium_from], ["high", "medium"], "low"
    )


def score(
    model: ChurnModel, snapshots: pd.DataFrame, medium_from: float, high_from: float
) -> pd.DataFrame:
    """One row per snapshot row: customer_id, as_of, churn_probability, risk_band and the top
    three reasons (reason_1 always set; reason_2, reason_3 when there are that many)."""
    matrix = model_matrix(snapshots, model.features)
    explanation = explain_with_decision(model, snapshots, matrix)
    probability = model.probability_of(matrix, explanation.decision)
    scores = pd.DataFrame(
        {
            "customer_id": pd.array(snapshots["customer_id"].to_numpy(), dtype="string"),
            "as_of": snapshots["as_of"].to_numpy(),
            "churn_probability": probability,
            "risk_band": pd.array(risk_band(probability, medium_from, high_from), dtype="string"),
        }
    )
    return pd.concat([scores, explanation.reasons], axis=1)
