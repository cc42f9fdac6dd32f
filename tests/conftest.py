"""Shared fixtures: small generated deliveries, a parsed dbt project, and a warehouse built by the
whole pipeline once per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# The test deliveries have fixed dates; partitions must not start at the first day of whatever
# data/landing/ this checkout holds (the default when the setting is unset).
os.environ.setdefault("WEIXI_PARTITION_START", "2024-01-01")

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
    parse_lock,
    pipeline_assets,
    range_tags,
    scored_assets,
    weixi_resources,
)

# How `make test` shares the work between pytest-xdist workers (`--dist loadgroup`): a test
# runs on the worker that builds the shared session fixture it needs (the first of these), so
# each is built once; the other tests of a module stay together, so a module fixture is built
# once too.
SHARED_FIXTURES = ("messy_pipeline", "tiny_backfill", "ml_warehouse", "pipeline_warehouse")
# The groups that take longest (`pytest --durations`), longest first. The workers take groups
# in the order of the tests (`make test` passes --no-loadscope-reorder; pytest-xdist would
# order them by their number of tests otherwise), each the next one when two tests of its
# current group are left: the two warehouse groups start at once, one per worker, and the rest
# fill in. A long group started last would leave the other worker idle for its length.
SLOW_GROUPS = (
    "pipeline_warehouse",
    "ml_warehouse",
    "tiny_backfill",
    "messy_pipeline",
    "tests.end_to_end.test_cli",
    "tests.assets.test_definitions",
    "tests.assets.test_quality_checks",
)


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    # Workers read the manifest as they import the dbt assets: parse it once, before they
    # start, rather than have each rewrite it while the other reads it.
    if not _xdist_worker(config) and config.getoption("numprocesses", None):
        prepare_manifest(force=True)


def _group(item: pytest.Item) -> str:
    needed = [f for f in SHARED_FIXTURES if f in item.fixturenames]
    return needed[0] if needed else item.module.__name__


def _slowness(group: str) -> int:
    return SLOW_GROUPS.index(group) if group in SLOW_GROUPS else len(SLOW_GROUPS)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item: _group(item) for item in items}
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
    # A stable sort: within a group, and among the quick groups, the tests keep their order.
    items.sort(key=lambda item: _slowness(groups[item]))


@pytest.fixture(autouse=True)
def _parse_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that start a re-parsing process (marked `reparses_dbt`) hold the parse lock alone,
    tests that start a code-location process (marked `code_location_process`) share it."""
    if request.node.get_closest_marker("reparses_dbt"):
        with parse_lock(exclusive=True):
            yield
    elif request.node.get_closest_marker("code_location_process"):
        with parse_lock(exclusive=False):
            yield
    else:
        yield


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
def dbt_manifest(request: pytest.FixtureRequest) -> None:
    """A freshly parsed dbt project (under pytest-xdist, parsed before the workers started)."""
    if not _xdist_worker(request.config):
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
