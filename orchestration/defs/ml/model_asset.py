"""The last steps every model asset shares: write its tables, record its validation figures and
report. An asset body reads its inputs, calls the library, and hands the frames to
:func:`publish`; when the history is too short it hands :func:`left_empty` tables instead, so
a skipped night still leaves every table with its columns and types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
import pyarrow as pa

from orchestration.defs.ml.model_validation import Figure, record_validation, validation_metadata
from orchestration.defs.resources import EngineWarehouse
from warehouse.table_spec import TYPES, TableSpec


@dataclass(frozen=True)
class TableOutput:
    """One table a model asset writes: its spec, the rows (conformed to the spec on writing) and
    the metadata of its materialisation besides the row count. The rows may be an Arrow table
    with the spec's columns in order (text columns as strings or dictionary-encoded strings):
    DuckDB reads it without converting Python objects, which for millions of texts is most of
    a write."""

    spec: TableSpec
    frame: pd.DataFrame | pa.Table
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.spec.name.split("."))

    def write(self, warehouse: EngineWarehouse) -> int:
        """Replace the table with the rows; returns how many."""
        if isinstance(self.frame, pd.DataFrame):
            return warehouse.write(self.spec, self.frame)
        return warehouse.write_table(self.spec.name, _conformed(self.spec, self.frame))


def _arrow_type_fits(logical: str, arrow: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if logical == "string":
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    if logical == "string_list":
        return pa.types.is_list(arrow) and _arrow_type_fits("string", arrow.value_type)
    return arrow == pa.from_numpy_dtype(TYPES[logical].pandas)


def _conformed(spec: TableSpec, table: pa.Table) -> pa.Table:
    """``table`` with the spec's columns in order; fails naming the table and the columns
    missing or of another type (only text, text list, integer and float columns come as
    Arrow)."""
    missing = [name for name in spec.column_names if name not in table.column_names]
    if missing:
        raise KeyError(f"{spec.name}: columns missing from the table: {', '.join(missing)}")
    wrong = [
        f"{c.name} ({table.schema.field(c.name).type}, not {c.type})"
        for c in spec.columns
        if c.type not in ("string", "string_list", "int64", "int32", "float64")
        or not _arrow_type_fits(c.type, table.schema.field(c.name).type)
    ]
    if wrong:
        raise TypeError(f"{spec.name}: columns of another type: {', '.join(wrong)}")
    return table.select(list(spec.column_names))


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
    warehouse: EngineWarehouse,
    outputs: Sequence[TableOutput],
    validations: Sequence[Validation] = (),
    multi: bool = False,
    validations_to: EngineWarehouse | None = None,
) -> list[dg.MaterializeResult]:
    """Write each output's table, record every validation (each under the model version whose
    figures they are; in ``validations_to`` when given, else ``warehouse``) and return one
    MaterializeResult per table: its row count, its metadata and (on the first) the validation
    figures. ``multi`` names each result's asset, as a multi-asset must."""
    rows = [output.write(warehouse) for output in outputs]
    figures: dict[str, dg.MetadataValue] = {}
    for validation in validations:
        record_validation(
            validations_to or warehouse,
            validation.model,
            validation.version,
            validation.figures,
            validation.note,
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
