"""The lane's model-asset step: after ``dbt build`` on Spark, the ML model assets materialised
twice on the lane's tables, with the DuckDB warehouse resource on a copy of the DuckDB build and
with the Spark one on the Spark tables, and their output tables compared.

The lane's shop (75 days) is too short to train the models (churn needs a snapshot whose 90-day
horizon has ended, lifetime value 180 days, recommendations 120), so its own run leaves their
tables empty. The models come from a second, longer shop instead (:data:`MODEL_SHOP_CUSTOMERS`
customers over :data:`MODEL_SHOP_DAYS` days to the same end date, built with `weixi run` on
DuckDB): both engines score with a copy of its registry. Trained as of the same reference date,
the registry's cadence says "score with the promoted version", so no model is refitted. Training
is where outputs are stochastic (sampling, k-means starts, a fit's float sums in another order);
scoring a stored model is a function of its inputs, so both engines' tables compare with the
same tolerance as the dbt models. The Spark copies of the output tables (registered as dbt
sources from the DuckDB build's Parquet) are dropped first, so only what the assets wrote is
compared."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from pyspark.sql import SparkSession

from orchestration.defs.ml.churn import churn_model, churn_scores
from orchestration.defs.ml.model_validation import Figure, validation_rows
from orchestration.defs.ml.personas import customer_personas
from orchestration.defs.ml.recommendations import recommendations
from orchestration.defs.ml.value import customer_value
from orchestration.defs.resources import EngineWarehouse, Models, SparkWarehouse, Warehouse
from tests.spark_lane.compare import ModelComparison, compare_tables
from tests.spark_lane.duckdb_build import DEMO_END, DEMO_SEED, shop_environment
from warehouse.model_outputs import (
    CHURN_SCORES,
    CUSTOMER_PERSONAS,
    CUSTOMER_VALUE,
    MODEL_VALIDATION,
    PERSONA_PROFILES,
    RECOMMENDATIONS,
)

ASSETS = [churn_model, churn_scores, customer_value, customer_personas, recommendations]
OUTPUTS = [CHURN_SCORES, CUSTOMER_VALUE, CUSTOMER_PERSONAS, PERSONA_PROFILES, RECOMMENDATIONS]
REPLACED_ROWS = dataclasses.replace(MODEL_VALIDATION, name="lane_checks.model_validation")
"""A table the lane's step replaces rows of on both engines (``replace_rows``)."""
BATCH_ROWS = 128
"""Rows per scoring batch: small, so the lane's 400 customers are scored in several batches."""


MODEL_SHOP_CUSTOMERS = 300
MODEL_SHOP_DAYS = 450


def train_models(weixi: Path, scratch: Path) -> Path:
    """The model registry of the longer shop (built once per scratch folder, kept after)."""
    shop = scratch / "model_shop"
    registry = shop / "models"
    if not (registry / ".trained").exists():
        shutil.rmtree(shop, ignore_errors=True)
        environment = shop_environment(shop)
        generate = ["generate", "--customers", str(MODEL_SHOP_CUSTOMERS)]
        generate += ["--days", str(MODEL_SHOP_DAYS), "--end-date", DEMO_END]
        generate += ["--seed", str(DEMO_SEED), "--out", environment["WEIXI_LANDING"]]
        for arguments in (generate, ["run"]):
            subprocess.run([str(weixi), *arguments], env=environment, check=True)
        (registry / ".trained").touch()
    return registry


def materialise_and_compare(
    spark: SparkSession, warehouse: Path, registry: Path, scratch: Path
) -> list[ModelComparison]:
    """Run the model assets with a copy of ``registry`` on a copy of the DuckDB ``warehouse``
    and on Spark, then compare each output table (``<table> (asset)`` lines of the lane's
    table; a line says which engine's run failed and why)."""
    on_duckdb = scratch / "assets_duckdb.duckdb"
    shutil.copy(warehouse, on_duckdb)
    duckdb_failed = _materialise(
        Warehouse(path=str(on_duckdb), batch_rows=BATCH_ROWS), registry, scratch / "duckdb_models"
    )
    for spec in (*OUTPUTS, REPLACED_ROWS):
        spark.sql(f"drop table if exists {spec.name}")
    spark_warehouse = SparkWarehouse(
        warehouse_dir=str(scratch / "spark_warehouse"),
        batch_rows=BATCH_ROWS,
        control_path=str(on_duckdb),
    )
    spark_failed = _materialise(spark_warehouse, registry, scratch / "spark_models")
    failed = "; ".join(f for f in (duckdb_failed, spark_failed) if f)
    for engine_warehouse in (Warehouse(path=str(on_duckdb)), spark_warehouse):
        _replace_validation_rows(engine_warehouse)
    with duckdb.connect(str(on_duckdb), read_only=True) as connection:
        return [
            _compared(spark, connection, spec.name, failed) for spec in (*OUTPUTS, REPLACED_ROWS)
        ]


def _replace_validation_rows(warehouse: EngineWarehouse) -> None:
    """Validation figures recorded three times into :data:`REPLACED_ROWS` (the model assets
    record none when they only score): the third replaces the first's rows."""
    for model, values in (("churn", [0.81, 0.42]), ("customer_value", [1.5]), ("churn", [0.8])):
        figures = [Figure(f"metric_{i}", v, "baseline", v / 2) for i, v in enumerate(values)]
        frame = validation_rows(model, "v1", figures, note="lane")
        frame["validated_at"] = pd.Timestamp("2025-06-30 02:00")
        warehouse.replace_rows(
            REPLACED_ROWS,
            frame,
            "model = $model and model_version = $version",
            {"model": model, "version": "v1"},
        )


def _materialise(warehouse: EngineWarehouse, registry: Path, copy: Path) -> str:
    """Materialise the assets on ``warehouse`` with a copy of ``registry``: the failures, or
    an empty text."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(registry, copy)
    resources = {"warehouse": warehouse, "models": Models(root=str(copy))}
    result = dg.materialize(ASSETS, resources=resources, raise_on_error=False)
    engine = type(warehouse).__name__
    return "; ".join(
        f"{engine} {event.step_key}: {event.step_failure_data.error.message.strip()[:300]}"
        for event in result.get_step_failure_events()
    )


def _compared(
    spark: SparkSession, connection: duckdb.DuckDBPyConnection, table: str, failed: str
) -> ModelComparison:
    ours = connection.sql(f"select * from {table}").to_arrow_table()
    theirs = spark.table(table).toArrow() if spark.catalog.tableExists(table) else None
    if theirs is None:
        match = f"no: not written on Spark ({failed or 'no asset failed'})"
    elif not ours.num_rows:
        match = "no: empty on DuckDB, nothing to compare"
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
