"""How well predicted probabilities separate and calibrate a yes/no outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


@dataclass(frozen=True)
class ClassificationMetrics:
    """Validation figures of a probability forecast against what happened."""

    roc_auc: float
    pr_auc: float
    brier: float
    top_decile_lift: float
    rows: int
    positive_rate: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def top_decile_lift(outcome: np.ndarray, probability: np.ndarray) -> float:
    """Positive rate among the tenth with the highest probabilities, over the overall rate.

    Ties are broken by position (stable sort), so a constant forecast scores about 1."""
    outcome = np.asarray(outcome, dtype=float)
    top = max(1, int(np.ceil(len(outcome) / 10)))
    order = np.argsort(-np.asarray(probability, dtype=float), kind="stable")
    overall = outcome.mean()
    return float(outcome[order[:top]].mean() / overall) if overall > 0 else float("nan")


@dataclass(frozen=True)
class CalibrationBin:
    """One bin of a reliability diagram: forecasts between ``low`` and ``high``, their mean,
    the share of them that came true, and how many there were."""

    low: float
    high: float
    predicted: float
    observed: float
    rows: int


def calibration_bins(
    outcome: np.ndarray, probability: np.ndarray, bins: int = 10
) -> list[CalibrationBin]:
    """The forecasts cut into ``bins`` equal-width probability bins (empty bins left out): in a
    well-calibrated forecast each bin's observed rate is close to its mean forecast."""
    outcome = np.asarray(outcome, dtype=float)
    probability = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # The last bin is closed on the right, so a forecast of exactly 1 falls in it.
    index = np.clip(np.digitize(probability, edges[1:-1], right=False), 0, bins - 1)
    return [
        CalibrationBin(
            low=float(edges[b]),
            high=float(edges[b + 1]),
            predicted=float(probability[index == b].mean()),
            observed=float(outcome[index == b].mean()),
            rows=int((index == b).sum()),
        )
        for b in range(bins)
        if (index == b).any()
    ]


def classification_metrics(outcome: np.ndarray, probability: np.ndarray) -> ClassificationMetrics:
    """ROC AUC, PR AUC (average precision), Brier score and top-decile lift of ``probability``
    as a forecast of the 0/1 ``outcome``."""
    outcome = np.asarray(outcome, dtype=int)
    probability = np.asarray(probability, dtype=float)
    both_classes = 0 < outcome.sum() < len(outcome)
    return ClassificationMetrics(
        roc_auc=float(roc_auc_score(outcome, probability)) if both_classes else float("nan"),
        pr_auc=float(average_precision_score(outcome, probability))
        if both_classes
        else float("nan"),
        brier=float(brier_score_loss(outcome, probability)),
        top_decile_lift=top_decile_lift(outcome, probability),
        rows=len(outcome),
        positive_rate=float(outcome.mean()) if len(outcome) else float("nan"),
    )
