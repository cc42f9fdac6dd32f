"""Constants and helpers the tests share: the demo window, resources, asset lists, table
snapshots. The modules beside this one build test data (``messy_landing``,
``activation_inputs``), run the pipeline (``pipeline_process``, ``messy_pipeline``) and play a
BI reader (``serving_reader``) or a webhook endpoint (``webhook_server``)."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.resources import build_resources
from orchestration.settings import WeixiSettings

DEMO_END = date(2025, 6, 30)
DEMO_DAYS = 75
DEMO_START = date(2025, 4, 17)
DEMO_CUSTOMERS = 400
# Models need history: two years, enough customers to learn from, still about a minute to build.
ML_END = date(2025, 12, 30)
ML_DAYS = 730
ML_START = date(2024, 1, 1)
ML_CUSTOMERS = 1500
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
MODEL_GROUP = "ml"


@cache
def code_location_assets() -> tuple[dg.AssetsDefinition, ...]:
    """Every materialisable asset of the code location, as the nightly run loads them, so that
    a new asset reaches the lists below without editing them (needs a parsed dbt project)."""
    from orchestration.definitions import defs

    return tuple(
        a for a in defs().assets or [] if isinstance(a, dg.AssetsDefinition) and a.is_executable
    )


def loading_assets() -> list:
    """The assets whose tables the dbt models before the scores read: ingestion, the text
    sentiment and the consent ledger (needs a parsed dbt project)."""
    from orchestration.defs.dbt.assets import dbt_incremental_models, dbt_models

    dbt = (dbt_incremental_models, dbt_models)
    read = {key for models in dbt for key in models.dependency_keys}
    return [a for a in code_location_assets() if a not in dbt and read & set(a.keys)]


def pipeline_assets() -> list:
    """Loading and every dbt model before the model assets (needs a parsed dbt project)."""
    from orchestration.defs.dbt.assets import dbt_incremental_models, dbt_models

    return [*loading_assets(), dbt_incremental_models, dbt_models]


def model_assets() -> list:
    """The model assets that score customers from the dbt marts (before the scored marts): the
    ``ml`` group but its loading assets (the text sentiment, which dbt reads); needs a parsed
    dbt project."""
    loading = loading_assets()
    return [
        a
        for a in code_location_assets()
        if MODEL_GROUP in a.group_names_by_key.values() and a not in loading
    ]


def scored_assets() -> list:
    """The model assets and the dbt marts built on their scores (needs a parsed dbt project)."""
    from orchestration.defs.dbt.assets import dbt_scored_models

    return [*model_assets(), dbt_scored_models]


def range_tags(start: date, end: date) -> dict[str, str]:
    return {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}


def weixi_resources(warehouse: Path, landing: Path, **settings: object) -> dict:
    """Resources for a warehouse and landing folder of a test's own. The model registry goes
    beside the warehouse unless ``settings`` say otherwise."""
    settings.setdefault("model_registry", warehouse.parent / "models")
    return build_resources(
        WeixiSettings(warehouse=warehouse, landing=landing, **settings).resolved()
    )


def table_snapshot(warehouse: Path, schemas: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Every table and view of ``schemas``, sorted, without the columns that name the load."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) order by 1",
            [list(schemas)],
        ).fetchall()
        for (table,) in tables:
            columns = [
                c
                for (c,) in con.execute(f"select column_name from (describe {table})").fetchall()
                if c not in {"_load_id", "_loaded_at", "load_id", "loaded_at"}
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f"select {select} from {table} order by all").df()
    return out


def exported_text(folder: Path) -> str:
    """Every CSV and Parquet file under ``folder`` as one text, to search for what must not
    leave (ids, contact details, hashes)."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".csv":
            parts.append(path.read_text())
        elif path.suffix == ".parquet":
            parts.append(pd.read_parquet(path).to_csv())
    return "\n".join(parts)
