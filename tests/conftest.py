"""Shared fixtures: small generated deliveries, a parsed dbt project, and a warehouse built by the
whole pipeline once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from demo_data import GeneratorConfig, generate  # noqa: E402
from orchestration.defs.dbt.project import prepare_manifest  # noqa: E402
from tests.support import (  # noqa: E402
    DEMO_CUSTOMERS,
    DEMO_DAYS,
    DEMO_END,
    DEMO_START,
    ML_CUSTOMERS,
    ML_DAYS,
    ML_END,
    ML_START,
    pipeline_assets,
    range_tags,
    scored_assets,
    weixi_resources,
)


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(
        GeneratorConfig(
            out=out, customers=DEMO_CUSTOMERS, days=DEMO_DAYS, end_date=DEMO_END, seed=7
        )
    )
    return out


@pytest.fixture(scope="session")
def dbt_manifest() -> None:
    prepare_manifest(force=True)


@pytest.fixture(scope="session")
def all_assets(dbt_manifest: None) -> list:
    return pipeline_assets()


@pytest.fixture(scope="session")
def pipeline_warehouse(
    tmp_path_factory: pytest.TempPathFactory, demo_landing: Path, all_assets: list
) -> tuple[Path, dg.ExecuteInProcessResult]:
    """The whole pipeline over every demo day, as one ranged (single-run backfill) run."""
    warehouse = tmp_path_factory.mktemp("pipeline") / "warehouse.duckdb"
    result = dg.materialize(
        all_assets,
        resources=weixi_resources(warehouse, demo_landing),
        tags=range_tags(DEMO_START, DEMO_END),
    )
    assert result.success
    return warehouse, result


@pytest.fixture(scope="session")
def ml_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml_landing")
    generate(
        GeneratorConfig(out=out, customers=ML_CUSTOMERS, days=ML_DAYS, end_date=ML_END, seed=11)
    )
    return out


@pytest.fixture(scope="session")
def ml_warehouse(
    tmp_path_factory: pytest.TempPathFactory, ml_landing: Path, all_assets: list
) -> Path:
    """Two years of deliveries through ingestion and dbt, for the models to learn from. Model
    tests materialise their own assets on it; each writes only its own tables."""
    warehouse = tmp_path_factory.mktemp("ml") / "warehouse.duckdb"
    result = dg.materialize(
        all_assets,
        resources=weixi_resources(warehouse, ml_landing),
        tags=range_tags(ML_START, ML_END),
    )
    assert result.success
    return warehouse


@pytest.fixture(scope="session")
def scored_warehouse(
    tmp_path_factory: pytest.TempPathFactory, ml_warehouse: Path, ml_landing: Path
) -> Path:
    """A copy of ``ml_warehouse`` with every model trained and scored and the scored marts
    (customer segments, audience candidates) built, once per session. Activation tests build
    audiences, exports and lift on it; copy it to ``tmp_path`` before writing to it."""
    warehouse = tmp_path_factory.mktemp("scored") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    result = dg.materialize(scored_assets(), resources=weixi_resources(warehouse, ml_landing))
    assert result.success
    return warehouse
