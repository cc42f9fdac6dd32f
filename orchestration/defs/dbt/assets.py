"""The dbt models as Dagster assets: the incremental models run per daily partition window,
everything else (views and tables that rebuild whole) runs unpartitioned after them, and the
marts that read the model assets' scores (tag ``scored``) run last, after those assets."""

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import weixi_dbt_project
from orchestration.defs.dbt.translator import WeixiDbtTranslator
from orchestration.defs.partitions import daily_partitions, partition_dates
from orchestration.defs.resources import WAREHOUSE_POOL, Warehouse
from orchestration.settings import get_settings

INCREMENTAL_SELECTOR = "config.materialized:incremental"
# Marts built on the Python model assets' tables. They are a set of their own so that the op
# graph runs dbt_models -> model assets -> dbt_scored_models without a cycle.
SCORED_SELECTOR = "tag:scored"


def dbt_vars(warehouse_path: str, window: tuple[date, date] | None = None) -> dict[str, Any]:
    """The ``--vars`` of a dbt invocation: the warehouse file, the business parameters and, for
    partitioned runs, the inclusive window ``min_date``..``max_date`` of delivery days."""
    variables: dict[str, Any] = {
        "warehouse_path": warehouse_path,
        **get_settings().dbt_business_vars(),
    }
    if window is not None:
        variables["min_date"], variables["max_date"] = (d.isoformat() for d in window)
    return variables


def _build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, variables: dict[str, Any]
) -> Iterator[Any]:
    invocation = dbt.cli(["build", "--vars", json.dumps(variables)], context=context)
    yield from invocation.stream()


@dbt_assets(
    manifest=weixi_dbt_project.manifest_path,
    project=weixi_dbt_project,
    select=INCREMENTAL_SELECTOR,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=WeixiDbtTranslator(),
    pool=WAREHOUSE_POOL,
    name="dbt_incremental_models",
)
def dbt_incremental_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """Incremental facts, rebuilt for the delivery days of the partition window."""
    yield from _build(context, dbt, dbt_vars(warehouse.path, partition_dates(context)))


@dbt_assets(
    manifest=weixi_dbt_project.manifest_path,
    project=weixi_dbt_project,
    exclude=f"{INCREMENTAL_SELECTOR} {SCORED_SELECTOR}",
    dagster_dbt_translator=WeixiDbtTranslator(),
    pool=WAREHOUSE_POOL,
    name="dbt_models",
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """Staging views, identity matching and the marts that rebuild whole each night."""
    yield from _build(context, dbt, dbt_vars(warehouse.path))


@dbt_assets(
    manifest=weixi_dbt_project.manifest_path,
    project=weixi_dbt_project,
    select=SCORED_SELECTOR,
    dagster_dbt_translator=WeixiDbtTranslator(),
    pool=WAREHOUSE_POOL,
    name="dbt_scored_models",
)
def dbt_scored_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """Marts that combine the dbt marts with the model scores (customer segments)."""
    yield from _build(context, dbt, dbt_vars(warehouse.path))
