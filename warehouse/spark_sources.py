"""Bridge 1 of the Spark engine: the dbt sources, from the control file into Spark.

On ``WEIXI_ENGINE=spark`` the Python side keeps working in a local DuckDB file, the control
file (the loader's raw copy and log, the consent ledger, data-check results, activation logs,
text sentiment), while dbt builds on Spark. Before each dbt invocation every source dbt reads
must be a Spark table:

- the raw tables the loader wrote as Parquet day folders are registered as partitioned external
  tables ``raw.<table>`` over those folders (new day folders picked up each time);
- every other source the control file holds is copied into Spark whole (through Arrow);
  only the sources a dbt model or test reads: the others are declared for lineage only;
- the tables the model assets write on Spark themselves (``warehouse.model_outputs``) are
  left as they are.

This module decides which is which (no pyspark here); ``SparkTables`` does the work."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from warehouse.model_outputs import ENGINE_OUTPUTS

RAW_SCHEMA = "raw"
WRITTEN_ON_SPARK = frozenset(spec.name for spec in ENGINE_OUTPUTS)
"""The sources the model assets write on Spark directly (``SparkWarehouse``): never copied."""


@dataclass(frozen=True)
class SourcePlan:
    """Where each dbt source comes from on Spark."""

    registered: dict[str, Path]
    """``raw.<table>`` -> its Parquet folder (day folders under it), registered as a table."""
    copied: tuple[str, ...]
    """``schema.table`` copied whole from the control file."""
    on_spark: tuple[str, ...]
    """``schema.table`` the model assets write on Spark: left alone."""


def manifest_sources(manifest_path: Path) -> list[str]:
    """Every ``schema.table`` a model or test of dbt's ``manifest.json`` reads as a source. The
    other declared sources (the Python side's outputs, declared for the lineage and the docs:
    activation logs, the loader's log) are read by no node, so need not be on Spark."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    read = {
        parent
        for node in manifest["nodes"].values()
        for parent in node.get("depends_on", {}).get("nodes", [])
    }
    sources = manifest["sources"]
    return sorted(
        f"{sources[name]['schema']}.{sources[name]['identifier']}" for name in read & set(sources)
    )


def plan_sources(sources: Iterable[str], raw_root: Path | None) -> SourcePlan:
    """Where each of ``sources`` comes from: a raw table with Parquet files under
    ``raw_root/raw/<table>`` is registered; a raw table without any (no row ever loaded: no file
    holds its columns) is copied like the rest, but for the model assets' tables."""
    registered, copied, on_spark = {}, [], []
    for table in sorted(set(sources)):
        folder = _parquet_folder(raw_root, table)
        if folder is not None:
            registered[table] = folder
        elif table in WRITTEN_ON_SPARK:
            on_spark.append(table)
        else:
            copied.append(table)
    return SourcePlan(registered, tuple(copied), tuple(on_spark))


def _parquet_folder(raw_root: Path | None, table: str) -> Path | None:
    schema, name = table.split(".")
    if raw_root is None or schema != RAW_SCHEMA:
        return None
    folder = Path(raw_root) / schema / name
    # Spark skips names starting with "." (the store's writes in progress): so does this.
    files = (f.relative_to(folder).parts for f in folder.rglob("*.parquet"))
    has_rows = any(not any(part.startswith(".") for part in parts) for parts in files)
    return folder if has_rows else None


def spark_readable_select(columns: Mapping[str, str]) -> str:
    """A select list of DuckDB columns (name -> DuckDB type) in types Spark reads: UUID and JSON
    as text, the integers wider than a bigint as decimal(38, 0); the others as they are."""
    as_text = ("UUID", "JSON")
    as_wide = ("HUGEINT", "UHUGEINT", "UBIGINT")
    listed = []
    for column, data_type in columns.items():
        quoted = f'"{column}"'
        if data_type in as_text:
            listed.append(f"cast({quoted} as varchar) as {quoted}")
        elif data_type in as_wide:
            listed.append(f"cast({quoted} as decimal(38, 0)) as {quoted}")
        else:
            listed.append(quoted)
    return ", ".join(listed)
