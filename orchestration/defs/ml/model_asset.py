"""The last steps every model asset shares: write its tables, record its validation figures and
report. An asset body reads its inputs, calls the library, and hands the frames to
:func:`publish`; when the history is too short it hands :func:`left_empty` tables instead, so
a skipped night still leaves every table with its columns and types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from orchestration.defs.ml.model_validation import Figure, record_validation, validation_metadata
from orchestration.defs.resources import Warehouse
from warehouse.table_spec import TableSpec


@dataclass(frozen=True)
class TableOutput:
    """One table a model asset writes: its spec, the rows (conformed to the spec on writing) and
    the metadata of its materialisation besides the row count."""

    spec: TableSpec
    frame: pd.DataFrame
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.spec.name.split("."))


@dataclass(frozen=True)
class Validation:
    """The validation figures of one model version, for ``marts.model_validation``."""

    model: str
    version: str
    figures: list[Figure]
    note: str = ""


def left_empty(
    context: dg.AssetExecutionContext,
    specs: Sequence[TableSpec],
    reason: str,
    metadata: dict[str, object],
) -> list[TableOutput]:
    """Every table of ``specs`` empty, with ``metadata`` (which says why); logs ``reason``."""
    context.log.warning(f"{' and '.join(s.name for s in specs)} left empty: {reason}")
    return [TableOutput(spec, spec.empty_frame(), metadata) for spec in specs]


def publish(
    warehouse: Warehouse,
    outputs: Sequence[TableOutput],
    validations: Sequence[Validation] = (),
    multi: bool = False,
) -> list[dg.MaterializeResult]:
    """Write each output's table, record every validation (each under the model version whose
    figures they are) and return one MaterializeResult per table: its row count, its metadata
    and (on the first) the validation figures. ``multi`` names each result's asset, as a
    multi-asset must."""
    rows = [warehouse.write(output.spec, output.frame) for output in outputs]
    figures: dict[str, dg.MetadataValue] = {}
    for validation in validations:
        record_validation(
            warehouse, validation.model, validation.version, validation.figures, validation.note
        )
        for name, value in validation_metadata(validation.figures).items():
            # A figure of a second model version (a validation fit) keeps its version beside.
            figures[f"{name} ({validation.version})" if name in figures else name] = value
    return [
        dg.MaterializeResult(
            asset_key=output.asset_key if multi else None,
            metadata={
                "dagster/row_count": count,
                **output.metadata,
                **(figures if position == 0 else {}),
            },
        )
        for position, (output, count) in enumerate(zip(outputs, rows, strict=True))
    ]
