"""The publish step: once every mart is built and checked, BI tools get a fresh, complete copy.

The publish asset depends on every asset whose key starts with ``marts``. Those keys are known
only once every defs module is loaded (model marts come from several modules), so
``orchestration/definitions.py`` adds the asset with ``with_publish_asset`` after loading.
Because it is downstream of every mart, a mart that fails, or a blocking check on a mart that
fails, stops it: the previous serving copy stays in place.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.dbt.project import weixi_dbt_project
from orchestration.defs.metadata import markdown_table
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Serving
from orchestration.table_catalog import PYTHON_TABLES
from serving.snapshot import (
    CURRENT,
    PARQUET_FOLDER,
    PUBLISHED_SCHEMAS,
    READABLE_BY,
    REQUIRED_TABLES,
    STORAGE_VERSION,
    AuditError,
    Descriptions,
    publish,
    reading_cursor,
)
from warehouse.spark_views import materialise_streams, with_streams

PUBLISHED_KEY = dg.AssetKey(["serving", "published"])
MARTS_PREFIX = "marts"


def _second_reader(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second reader of what ``con`` reads: on Spark, its streamed tables too."""
    return with_streams(con, reading_cursor(con))


def mart_keys(definitions: dg.Definitions) -> list[dg.AssetKey]:
    """The keys of the materialisable assets in ``definitions`` that start with ``marts``."""
    keys: set[dg.AssetKey] = set()
    for asset in definitions.assets or []:
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable:
            keys |= {key for key in asset.keys if key.path[0] == MARTS_PREFIX}
    return sorted(keys, key=lambda k: k.to_user_string())


def table_descriptions(manifest: Path) -> Descriptions:
    """Every documented table and its columns, as the serving copy carries them: the dbt
    models' descriptions from ``manifest`` (``doc()`` blocks already rendered there) and the
    table specs of every table Python writes."""
    nodes = json.loads(manifest.read_text())["nodes"].values() if manifest.exists() else []
    described: dict[str, tuple[str, dict[str, str]]] = {
        f"{node['schema']}.{node.get('alias') or node['name']}": (
            node.get("description", ""),
            {name: column.get("description", "") for name, column in node["columns"].items()},
        )
        for node in nodes
        if node["resource_type"] in ("model", "snapshot", "seed")
    }
    for spec in PYTHON_TABLES:
        described[spec.name] = (
            spec.description,
            {column.name: column.description for column in spec.columns},
        )
    return described


def build_publish_asset(marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The asset that publishes the marts ``marts`` (and every other table of the warehouse's
    ``marts`` schema) to the serving folder."""

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=list(marts),
        description=(
            "The marts as BI tools read them: a complete copy of last night's checked marts in "
            "a separate DuckDB file and Parquet files, swapped in whole, each table and column "
            "with its description (COMMENT ON, Parquet field metadata). Only the tables, and "
            "months of the fact tables, that changed since the last publish are written."
        ),
        group_name="serving",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        metadata={"storage_version": STORAGE_VERSION, "readable_by": READABLE_BY},
    )
    def published(
        context: dg.AssetExecutionContext, warehouse: EngineWarehouse, serving: Serving
    ) -> dg.MaterializeResult:
        """The marts as BI tools read them, published whole after every mart and check passed."""
        try:
            with warehouse.connect() as con:
                # On Spark, tables read through Spark are read once here rather than at each
                # of publish's scans (none on DuckDB, whose tables are the file's own).
                read_once = materialise_streams(con, PUBLISHED_SCHEMAS)
                if read_once:
                    context.log.info(f"read {len(read_once)} tables through Spark once each")
                result = publish(
                    con,
                    serving.path,
                    context.run_id,
                    REQUIRED_TABLES,
                    descriptions=table_descriptions(weixi_dbt_project.manifest_path),
                    second_reader=_second_reader,
                )
        except AuditError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(
            f"published {len(result.tables)} tables to {result.database} "
            f"and {serving.path / PARQUET_FOLDER / CURRENT}, writing {len(result.written)} "
            "tables or months that changed and keeping the rest"
        )
        rows = [[table, n] for table, n in result.tables.items()]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(result.tables.values()),
                "tables": dg.MetadataValue.md(markdown_table(["table", "rows"], rows)),
                "version": result.version,
                "database": dg.MetadataValue.path(str(result.database)),
                "database_bytes": result.database_bytes,
                "parquet": dg.MetadataValue.path(str(result.parquet)),
                "parquet_bytes": result.parquet_bytes,
                "row_counts": dg.MetadataValue.json(result.tables),
                "written": dg.MetadataValue.json(result.written),
            }
        )

    return published


def with_publish_asset(definitions: dg.Definitions) -> dg.Definitions:
    """``definitions`` plus the publish asset, downstream of every mart they hold."""
    publish_asset = build_publish_asset(mart_keys(definitions))
    return dg.Definitions.merge(definitions, dg.Definitions(assets=[publish_asset]))
