"""The dbt models as Dagster assets: the incremental models run per daily partition window,
everything else (views and tables that rebuild whole) runs unpartitioned after them, and the
marts that read the model assets' scores (tag ``scored``) run last, after those assets.

The assets are made from the manifest when the code location loads (``dbt_definitions``), not
on import, so importing this module never runs ``dbt parse``."""

from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any, NamedTuple

import dagster as dg
from dagster_dbt import dbt_assets

from orchestration.defs.dbt.project import prepare_manifest, weixi_dbt_project
from orchestration.defs.dbt.resource import WeixiDbt
from orchestration.defs.dbt.translator import WeixiDbtTranslator
from orchestration.defs.partitions import daily_partitions, partition_dates
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models, Warehouse

INCREMENTAL_SELECTOR = "config.materialized:incremental"
# Marts built on the Python model assets' tables. They are a set of their own so that the op
# graph runs dbt_models -> model assets -> dbt_scored_models without a cycle.
SCORED_SELECTOR = "tag:scored"


class DbtModelAssets(NamedTuple):
    incremental: dg.AssetsDefinition
    models: dg.AssetsDefinition
    scored: dg.AssetsDefinition


def _build(
    context: dg.AssetExecutionContext,
    dbt: WeixiDbt,
    warehouse: EngineWarehouse,
    control: Warehouse,
    models: Models,
    window: tuple[date, date] | None = None,
) -> Iterator[Any]:
    """``dbt build`` of ``context``'s models, with the churn training snapshots only when the
    churn model retrains tonight: the same decision (``Models.churn_cadence``) as the churn
    model asset, as of the reference date the incremental models have already set. On Spark
    the sources are brought there first (``EngineWarehouse.prepare_dbt_sources``)."""
    cadence = models.churn_cadence(warehouse.known_reference_date())
    plan = warehouse.prepare_dbt_sources(control, weixi_dbt_project.manifest_path)
    if plan is not None:
        context.log.info(
            f"dbt sources on Spark: {len(plan.registered)} raw tables registered from Parquet, "
            f"{len(plan.copied)} copied from the control file, {len(plan.on_spark)} written "
            "there by the model assets"
        )
    # The dbt profile's DuckDB path: the control file (on DuckDB, the warehouse itself).
    yield from dbt.build(context, control.path, window, train_churn=cadence.retrain)


@cache
def dbt_model_assets() -> DbtModelAssets:
    """The three sets of dbt assets, from a prepared manifest; made once per process."""
    manifest = prepare_manifest()

    @dbt_assets(
        manifest=manifest,
        project=weixi_dbt_project,
        select=INCREMENTAL_SELECTOR,
        # An incremental scored mart (segment_history) finds its own changes: it runs with them.
        exclude=SCORED_SELECTOR,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=WeixiDbtTranslator(),
        pool=WAREHOUSE_POOL,
        name="dbt_incremental_models",
    )
    def dbt_incremental_models(
        context: dg.AssetExecutionContext,
        dbt: WeixiDbt,
        warehouse: EngineWarehouse,
        control: Warehouse,
        models: Models,
    ) -> Iterator[Any]:
        """Incremental facts, rebuilt for the delivery days of the partition window."""
        yield from _build(context, dbt, warehouse, control, models, partition_dates(context))

    @dbt_assets(
        manifest=manifest,
        project=weixi_dbt_project,
        exclude=f"{INCREMENTAL_SELECTOR} {SCORED_SELECTOR}",
        dagster_dbt_translator=WeixiDbtTranslator(),
        pool=WAREHOUSE_POOL,
        name="dbt_models",
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: WeixiDbt,
        warehouse: EngineWarehouse,
        control: Warehouse,
        models: Models,
    ) -> Iterator[Any]:
        """Staging views, identity matching and the marts that rebuild whole each night."""
        yield from _build(context, dbt, warehouse, control, models)

    @dbt_assets(
        manifest=manifest,
        project=weixi_dbt_project,
        select=SCORED_SELECTOR,
        dagster_dbt_translator=WeixiDbtTranslator(),
        pool=WAREHOUSE_POOL,
        name="dbt_scored_models",
    )
    def dbt_scored_models(
        context: dg.AssetExecutionContext,
        dbt: WeixiDbt,
        warehouse: EngineWarehouse,
        control: Warehouse,
        models: Models,
    ) -> Iterator[Any]:
        """Marts that combine the dbt marts with the model scores (customer segments)."""
        yield from _build(context, dbt, warehouse, control, models)

    return DbtModelAssets(dbt_incremental_models, dbt_models, dbt_scored_models)


@dg.definitions
def dbt_definitions() -> dg.Definitions:
    """The dbt assets of the code location."""
    return dg.Definitions(assets=list(dbt_model_assets()))
