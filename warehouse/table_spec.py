"""One declaration per table that Python writes, from which its DDL, its empty typed frame, the
conformed frame to write and its documentation all come.

A table written from a frame (``create or replace table ... as select * from frame``) takes its
DuckDB types from the frame's pandas dtypes, and a table created first and then appended to
takes them from its DDL. Both roads go through :data:`TYPES`, so a table has the same types
whichever road wrote it, and whether it holds a million rows or none (an empty mart after
``NotEnoughHistory``), and dbt models that read it as a source always find them.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class LogicalType:
    """A column type as DuckDB declares it and as pandas holds it before it is written."""

    duckdb: str
    pandas: object


TYPES: dict[str, LogicalType] = {
    "string": LogicalType("varchar", pd.StringDtype()),
    "date": LogicalType("date", pd.ArrowDtype(pa.date32())),
    "timestamp": LogicalType("timestamp", "datetime64[us]"),
    "int64": LogicalType("bigint", "int64"),
    "int32": LogicalType("integer", "int32"),
    "float64": LogicalType("double", "float64"),
    "bool": LogicalType("boolean", pd.BooleanDtype()),
    "money": LogicalType("decimal(18,2)", pd.ArrowDtype(pa.decimal128(18, 2))),
    "string_list": LogicalType("varchar[]", pd.ArrowDtype(pa.list_(pa.string()))),
}
"""The logical types a spec may use (keys), each with its DuckDB type and pandas dtype."""


@dataclass(frozen=True)
class SpecColumn:
    """One column of a table: its name, logical type (a key of :data:`TYPES`) and meaning."""

    name: str
    type: str
    description: str

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(
                f"column {self.name}: unknown type {self.type!r}; use one of {', '.join(TYPES)}"
            )

    @property
    def duckdb_type(self) -> str:
        return TYPES[self.type].duckdb

    @property
    def dtype(self) -> object:
        return TYPES[self.type].pandas


@dataclass(frozen=True)
class TableSpec:
    """A table Python writes: ``schema.table``, what it holds, its grain in words, the columns
    that identify a row and every column in order."""

    name: str
    description: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[SpecColumn, ...]

    def __post_init__(self) -> None:
        names = self.column_names
        unknown = [k for k in self.key if k not in names]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: key {unknown} not among the columns, or a repeat")

    @property
    def schema(self) -> str:
        return self.name.split(".")[0]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def dtypes(self) -> dict[str, object]:
        """Column name -> pandas dtype, in table order."""
        return {c.name: c.dtype for c in self.columns}

    def ddl(self, replace: bool = False) -> str:
        """The ``create table`` statement (``if not exists`` unless ``replace``)."""
        columns = ", ".join(f"{c.name} {c.duckdb_type}" for c in self.columns)
        verb = "create or replace table" if replace else "create table if not exists"
        return f"{verb} {self.name} ({columns})"

    def create(self, con: duckdb.DuckDBPyConnection, replace: bool = False) -> None:
        """Create the schema and the table (kept if it exists, unless ``replace``). Columns the
        spec gained after an existing table was created are added to it, so a warehouse made
        by an older Weixi keeps working."""
        con.execute(f"create schema if not exists {self.schema}")
        con.execute(self.ddl(replace))
        schema, table = self.name.split(".")
        existing = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        }
        for c in self.columns:
            if c.name not in existing:
                con.execute(f"alter table {self.name} add column {c.name} {c.duckdb_type}")

    def cast_select(self, relation: str) -> str:
        """``select`` of every column of ``relation`` cast to its DuckDB type, in table order."""
        casts = ", ".join(f"cast({c.name} as {c.duckdb_type}) as {c.name}" for c in self.columns)
        return f"select {casts} from {relation}"

    def empty_frame(self) -> pd.DataFrame:
        """A frame with the table's columns and types and no rows."""
        return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in self.columns})

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` reduced to the table's columns, in table order and cast to their types. A
        frame without rows gives the empty table whatever its columns; missing columns fail,
        naming the table and the columns."""
        if frame.empty:
            return self.empty_frame()
        missing = [name for name in self.column_names if name not in frame.columns]
        if missing:
            raise KeyError(f"{self.name}: columns missing from the frame: {', '.join(missing)}")
        out = frame[list(self.column_names)].reset_index(drop=True)
        for c in self.columns:
            values = out[c.name]
            if c.type in ("date", "timestamp"):
                values = pd.to_datetime(values)
            out[c.name] = values.astype(c.dtype)
        return out

    def markdown(self) -> str:
        """The table as a Markdown section: name, description, grain and key, columns."""
        rows = "\n".join(
            f"| `{c.name}` | {c.duckdb_type} | {c.description} |" for c in self.columns
        )
        key = ", ".join(f"`{k}`" for k in self.key)
        return (
            f"## `{self.name}`\n\n{self.description}\n\n"
            f"**Grain:** {self.grain}. **Key:** {key}.\n\n"
            f"| column | type | description |\n|---|---|---|\n{rows}\n"
        )


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` (``schema.name``) exists in the warehouse."""
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )
