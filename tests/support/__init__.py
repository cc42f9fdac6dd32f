"""Constants and helpers the tests share: the demo window, resources, asset lists, table
snapshots. The modules beside this one build test data (``messy_landing``,
``activation_inputs``), run the pipeline (``pipeline_process``, ``messy_pipeline``) and play a
BI reader (``serving_reader``) or a webhook endpoint (``webhook_server``)."""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.resources import build_resources
from orchestration.settings import DBT_PROJECT_DIR, WeixiSettings

DEMO_END = date(2025, 6, 30)
DEMO_DAYS = 75
DEMO_START = date(2025, 4, 17)
DEMO_CUSTOMERS = 400
# Models need history: two years, enough customers to learn from, still about a minute to build.
ML_END = date(2025, 12, 30)
ML_DAYS = 730
ML_START = date(2024, 1, 1)
ML_CUSTOMERS = 1500
# Tests of the `weixi` command around the pipeline (backfill, SIGTERM, one writer): a landing
# folder of three days; the runs cover the last two (every source delivers in them), so that the
# first day shows --start leaving a delivered day out.
TINY_END = date(2025, 6, 30)
TINY_DAYS = 3
TINY_CUSTOMERS = 60
TINY_START = date(2025, 6, 29)
TINY_RANGE = ("--start", TINY_START.isoformat(), "--end", TINY_END.isoformat())
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The parts of the pipeline, picked from the code location by group, kind and lineage, so that
# a new asset lands in the right list without editing it: the model assets are the ``ml`` group
# downstream of dbt (the text sentiment, upstream of dbt, is loading), the scored marts the dbt
# models downstream of them, loading what the other dbt models read.
DBT = dg.AssetSelection.kind("dbt")
MODELS = dg.AssetSelection.groups("ml") & DBT.downstream()
SCORED_DBT = DBT & MODELS.downstream()
PRE_SCORE_DBT = DBT - SCORED_DBT
LOADING = PRE_SCORE_DBT.upstream(depth=1) - DBT
# `dg check defs` and `dg dev` re-parse the dbt project into the shared target folder as they
# start, while any process that loads the code location reads that manifest: a re-parse holds
# this lock alone, readers share it, so readers run side by side on both pytest-xdist workers
# and never while a re-parse writes.
PARSE_LOCK = DBT_PROJECT_DIR / "target" / ".tests_parse.lock"


@contextmanager
def parse_lock(exclusive: bool) -> Iterator[None]:
    """Hold the parse lock: ``exclusive`` to re-parse the dbt project, shared to read it."""
    PARSE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with PARSE_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@cache
def _code_location() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs()


def code_location_assets(selection: dg.AssetSelection) -> list[dg.AssetsDefinition]:
    """The materialisable assets of the code location, as the nightly run loads them, that
    produce a key of ``selection`` (needs a parsed dbt project)."""
    definitions = _code_location()
    keys = selection.resolve(definitions.resolve_asset_graph())
    return [
        a
        for a in definitions.assets or []
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and keys & set(a.keys)
    ]


def loading_assets() -> list:
    """The assets that fill the tables dbt reads: ingestion, the text sentiment and the
    consent ledger (needs a parsed dbt project)."""
    return code_location_assets(LOADING)


def pipeline_assets() -> list:
    """Loading and every dbt model before the model assets (needs a parsed dbt project)."""
    return code_location_assets(LOADING | PRE_SCORE_DBT)


def model_assets() -> list:
    """The model assets that score customers from the dbt marts (before the scored marts)."""
    return code_location_assets(MODELS)


def scored_assets() -> list:
    """The model assets and the dbt marts built on their scores (needs a parsed dbt project)."""
    return code_location_assets(MODELS | SCORED_DBT)


def throwaway_instance() -> dg.DagsterInstance:
    """An in-memory Dagster instance, as `weixi run` uses, for tests that look at the tables a
    run writes, not at its history. ``instance_for_test`` keeps events in SQLite files,
    opening and committing a connection per event: a staged run of the pipeline then spends
    more than half its CPU recording them (the planned events of every asset and day)."""
    return dg.DagsterInstance.ephemeral()


def range_tags(start: date, end: date) -> dict[str, str]:
    return {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}


def weixi_resources(warehouse: Path, landing: Path, **settings: object) -> dict:
    """Resources for a warehouse and landing folder of a test's own. The model registry goes
    beside the warehouse unless ``settings`` say otherwise."""
    settings.setdefault("model_registry", warehouse.parent / "models")
    return build_resources(
        WeixiSettings(warehouse=warehouse, landing=landing, **settings).resolved()
    )


def run_dbt(
    args: list[str], resources: dict, warehouse: Path, target: Path, train_churn: bool = True
):
    """``dbt <args>`` on ``warehouse`` with the vars of ``resources``' dbt resource (the churn
    training snapshots only with ``train_churn``), its target and logs in ``target``; the
    finished process (output captured as text), not checked."""
    from orchestration.defs.dbt.project import DBT_EXECUTABLE

    variables = json.dumps(resources["dbt"].vars_for(str(warehouse), train_churn))
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--vars", variables]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        + ["--target-path", str(target), "--log-path", str(target)],
        capture_output=True,
        text=True,
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
