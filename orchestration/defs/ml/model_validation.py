"""Validation figures of every model, as asset metadata and in ``marts.model_validation`` so
BI tools show them beside the scores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from orchestration.defs.resources import EngineWarehouse
from warehouse.model_outputs import MODEL_VALIDATION


@dataclass(frozen=True)
class Figure:
    """One validation figure of a model, with the same figure for its baseline when there is one."""

    metric: str
    value: float
    baseline: str | None = None
    baseline_value: float | None = None


def record_validation(
    warehouse: EngineWarehouse, model: str, version: str, figures: list[Figure], note: str = ""
) -> None:
    """Replace the rows of ``model`` ``version`` in the validation table."""
    warehouse.replace_rows(
        MODEL_VALIDATION,
        validation_rows(model, version, figures, note),
        "model = $model and model_version = $version",
        {"model": model, "version": version},
    )


def validation_rows(model: str, version: str, figures: list[Figure], note: str) -> pd.DataFrame:
    """The rows of the validation table for ``figures`` of ``model`` ``version``, validated
    now."""
    return pd.DataFrame(
        {
            "model": model,
            "model_version": version,
            "validated_at": datetime.now(UTC).replace(tzinfo=None),
            "metric": [f.metric for f in figures],
            "value": [float(f.value) for f in figures],
            "baseline": [f.baseline for f in figures],
            "baseline_value": [
                None if f.baseline_value is None else float(f.baseline_value) for f in figures
            ],
            "note": note,
        }
    ).astype({"baseline": "string", "baseline_value": "Float64"})


def validation_metadata(figures: list[Figure]) -> dict[str, dg.MetadataValue]:
    """Each figure as a float metadata entry (plotted over runs in the UI), baselines beside."""
    metadata: dict[str, dg.MetadataValue] = {}
    for f in figures:
        metadata[f.metric] = dg.MetadataValue.float(float(f.value))
        if f.baseline is not None and f.baseline_value is not None:
            metadata[f"{f.metric} ({f.baseline})"] = dg.MetadataValue.float(float(f.baseline_value))
    return metadata
