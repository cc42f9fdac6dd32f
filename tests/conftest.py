"""Shared fixtures: small generated deliveries, a parsed dbt project, and a warehouse built by the
whole pipeline once per session."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from orchestration.defs.dbt.project import prepare_manifest  # noqa: E402
from orchestration.defs.resources import build_resources  # noqa: E402
from orchestration.demo_data import GeneratorConfig, generate  # noqa: E402
from orchestration.settings import WeixiSettings  # noqa: E402

DEMO_END = date(2025, 6, 30)
DEMO_DAYS = 75
DEMO_START = date(2025, 4, 17)
DEMO_CUSTOMERS = 400
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(start: date, end: date) -> dict[str, str]:
    return {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}


def weixi_resources(warehouse: Path, landing: Path) -> dict:
    return build_resources(WeixiSettings(warehouse=warehouse, landing=landing).resolved())


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
                c for (c,) in con.execute(f"select column_name from (describe {table})").fetchall()
                if c not in {"_load_id", "_loaded_at", "load_id", "loaded_at"}
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f"select {select} from {table} order by all").df()
    return out


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(GeneratorConfig(out=out, customers=DEMO_CUSTOMERS, days=DEMO_DAYS, end_date=DEMO_END,
                             seed=7))
    return out


@pytest.fixture(scope="session")
def dbt_manifest() -> None:
    prepare_manifest(force=True)


@pytest.fixture(scope="session")
def all_assets(dbt_manifest: None) -> list:
    from orchestration.defs.dbt.assets import dbt_incremental_models, dbt_models
    from orchestration.defs.ingest import ingest_assets

    return [*ingest_assets, dbt_incremental_models, dbt_models]


@pytest.fixture(scope="session")
def pipeline_warehouse(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path,
                       all_assets: list) -> tuple[Path, dg.ExecuteInProcessResult]:
    """The whole pipeline over every demo day, as one ranged (single-run backfill) run."""
    warehouse = tmp_path_factory.mktemp("pipeline") / "warehouse.duckdb"
    result = dg.materialize(
        all_assets,
        resources=weixi_resources(warehouse, demo_landing),
        tags=range_tags(DEMO_START, DEMO_END),
    )
    assert result.success
    return warehouse, result
