"""Order-free comparison of a model as DuckDB and Spark built it, and the lane's table.

Numbers (integers, decimals, doubles) compare as doubles within ``ABSOLUTE_TOLERANCE`` plus
``RELATIVE_TOLERANCE`` of their size: enough for sums added up in another order, not for a
value rounded differently (295.72 against 295.71 is a difference). Timestamps compare as UTC
instants, dates and text as text, lists and structs by their values; nulls equal nulls.
Columns of ``ENGINE_HASHES`` hold an engine's own ``hash()`` (fingerprints that the incremental
models compare within one warehouse) and are left out: the two engines' hash functions differ.
So are the columns of ``LOAD_RUN_COLUMNS``, which name the run that loaded a raw row and when:
Spark reads the raw tables the loader wrote in a load of its own (on Spark settings), from the
same landing folder as the DuckDB build's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ABSOLUTE_TOLERANCE = 1e-6
RELATIVE_TOLERANCE = 1e-9
ENGINE_HASHES = frozenset({"fingerprint"})
LOAD_RUN_COLUMNS = frozenset({"_load_id", "_loaded_at", "load_id", "loaded_at"})
LEFT_OUT = ENGINE_HASHES | LOAD_RUN_COLUMNS
_SORT_DECIMALS = 4
"""Numbers are rounded this far only to put both sides' rows in the same order."""


@dataclass(frozen=True)
class ModelComparison:
    """One line of the lane's table."""

    model: str
    spark_status: str
    rows_duckdb: int | None
    rows_spark: int | None
    match: str

    @property
    def ok(self) -> bool:
        return self.spark_status == "success" and self.match == "yes"


def comparable(table: pa.Table) -> pd.DataFrame:
    """``table`` with lower-case column names in name order and each column as values both
    engines spell alike: numbers as doubles, timestamps as UTC instants in text, the rest as
    text (nested values as JSON)."""
    columns = {}
    for name in sorted(table.column_names, key=str.lower):
        if name.lower() not in LEFT_OUT:
            columns[name.lower()] = _comparable_column(table.column(name))
    return pd.DataFrame(columns)


def _comparable_column(column: pa.ChunkedArray) -> pd.Series:
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        # Unsafe: an integer beyond 2**53 (a hash) loses its last bits, within the tolerance.
        return pd.Series(column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False))
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            column = column.cast(pa.timestamp("us", "UTC")).cast(pa.timestamp("us"))
        column = column.cast(pa.timestamp("us"))
        return pd.Series(pc.strftime(column, "%Y-%m-%d %H:%M:%S.%f").to_pylist(), dtype=object)
    if pa.types.is_nested(kind):
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pd.Series(values, dtype=object)
    return pd.Series(column.cast(pa.string()).to_pylist(), dtype=object)


def compare_tables(duckdb_table: pa.Table, spark_table: pa.Table) -> str:
    """``yes`` when both hold the same rows in any order (numbers within the tolerance),
    else what differs: the columns, the row counts, or how many rows in which columns."""
    ours, theirs = comparable(duckdb_table), comparable(spark_table)
    if list(ours.columns) != list(theirs.columns):
        only_duckdb = sorted(set(ours.columns) - set(theirs.columns))
        only_spark = sorted(set(theirs.columns) - set(ours.columns))
        return f"no: columns only in duckdb {only_duckdb}, only in spark {only_spark}"
    if len(ours) != len(theirs):
        return "no: row counts differ"
    ours, theirs = _in_one_order(ours), _in_one_order(theirs)
    differing = {name: _differs(ours[name], theirs[name]) for name in ours.columns}
    rows = np.logical_or.reduce([d for d in differing.values()] or [np.zeros(len(ours), bool)])
    if not rows.any():
        return "yes"
    names = ", ".join(name for name, d in differing.items() if d.any())
    return f"no: {int(rows.sum()):,} rows differ in {names}"


def _in_one_order(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or frame.columns.empty:
        return frame.reset_index(drop=True)
    keys = pd.DataFrame({name: _sort_key(frame[name]) for name in frame.columns})
    order = keys.sort_values(list(keys.columns), kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def _sort_key(values: pd.Series) -> pd.Series:
    if values.dtype.kind == "f":
        return values.round(_SORT_DECIMALS).fillna(-np.inf)
    return values.map(lambda v: "" if v is None else "\x01" + str(v))


def _differs(ours: pd.Series, theirs: pd.Series) -> np.ndarray:
    if ours.dtype.kind == "f" and theirs.dtype.kind == "f":
        close = np.isclose(
            ours.to_numpy(),
            theirs.to_numpy(),
            rtol=RELATIVE_TOLERANCE,
            atol=ABSOLUTE_TOLERANCE,
            equal_nan=True,
        )
        return ~close
    return np.array([a != b for a, b in zip(ours, theirs, strict=True)], dtype=bool)


def render(comparisons: Sequence[ModelComparison]) -> str:
    """The lane's table: model | spark status | rows duckdb | rows spark | match."""
    header = ("model", "spark status", "rows duckdb", "rows spark", "match")
    lines = [
        (c.model, c.spark_status, _count(c.rows_duckdb), _count(c.rows_spark), c.match)
        for c in comparisons
    ]
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    rendered = [
        " | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
        for row in [header, *lines]
    ]
    rendered.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in rendered)


def _count(rows: int | None) -> str:
    return "-" if rows is None else f"{rows:,}"
