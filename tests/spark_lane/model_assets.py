"""The lane's model-asset step: after ``dbt build`` on Spark, the ML model assets materialised
with the Spark warehouse resource on the lane's Spark tables, and their output tables compared
with those the DuckDB build's assets wrote.

The assets score with the models the DuckDB build trained and promoted (a copy of its
registry): that build trained them as of the same reference date, so the registry's cadence says
"score with the promoted version" and no model is refitted. Training is where the outputs are
stochastic (sampling, k-means starts, the fit's float sums in another order); scoring a stored
model is a function of its features, so both engines' outputs compare with the same tolerance as
the dbt models. The Spark copies of the output tables (registered as dbt sources from the DuckDB
build's Parquet) are dropped first, so what is compared is only what the assets wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
from pyspark.sql import SparkSession

from orchestration.defs.ml.churn import churn_model, churn_scores
from orchestration.defs.ml.personas import customer_personas
from orchestration.defs.ml.recommendations import recommendations
from orchestration.defs.ml.value import customer_value
from orchestration.defs.resources import Models, SparkWarehouse
from tests.spark_lane.compare import ModelComparison, compare_tables
from warehouse.model_outputs import (
    CHURN_SCORES,
    CUSTOMER_PERSONAS,
    CUSTOMER_VALUE,
    PERSONA_PROFILES,
    RECOMMENDATIONS,
)

ASSETS = [churn_model, churn_scores, customer_value, customer_personas, recommendations]
OUTPUTS = [CHURN_SCORES, CUSTOMER_VALUE, CUSTOMER_PERSONAS, PERSONA_PROFILES, RECOMMENDATIONS]
BATCH_ROWS = 128
"""Rows per scoring batch: small, so the lane's 400 customers are scored in several batches."""


def materialise_and_compare(
    spark: SparkSession, warehouse: Path, scratch: Path
) -> list[ModelComparison]:
    """Run the model assets on Spark with a copy of the DuckDB build's model registry, then
    compare each output table with the DuckDB build's (``<table> (asset)`` lines of the lane's
    table; every line fails when the run failed)."""
    registry = scratch / "spark_models"
    shutil.rmtree(registry, ignore_errors=True)
    shutil.copytree(scratch / "models", registry)
    for spec in OUTPUTS:
        spark.sql(f"drop table if exists {spec.name}")
    resources = {
        "warehouse": SparkWarehouse(
            warehouse_dir=str(scratch / "spark_warehouse"), batch_rows=BATCH_ROWS
        ),
        "models": Models(root=str(registry)),
    }
    result = dg.materialize(ASSETS, resources=resources, raise_on_error=False)
    failed = "; ".join(
        f"{event.step_key}: {event.step_failure_data.error.message.strip()[:300]}"
        for event in result.get_step_failure_events()
    )
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [_compared(spark, connection, spec.name, failed) for spec in OUTPUTS]


def _compared(
    spark: SparkSession, connection: duckdb.DuckDBPyConnection, table: str, failed: str
) -> ModelComparison:
    ours = connection.table(table).to_arrow_table()
    theirs = spark.table(table).toArrow() if spark.catalog.tableExists(table) else None
    if theirs is None:
        match = f"no: not written on Spark ({failed or 'no asset failed'})"
    else:
        match = compare_tables(ours, theirs)
    status = "error" if failed else "success"
    return ModelComparison(
        f"{table} (asset)",
        status,
        ours.num_rows,
        None if theirs is None else theirs.num_rows,
        match,
    )
