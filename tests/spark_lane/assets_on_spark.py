"""The lane's step for the assets that run DuckDB SQL through ``warehouse.connect()``:
activation (audiences, task lists, exports, lift), the data-quality checks of its marts,
publish and the report, materialised twice and what they write compared.

On DuckDB they run on a copy of the DuckDB build. On Spark, the tables they read (every mart
and the CRM staging table, :func:`spark_inputs`) are the DuckDB build's written as Spark tables
(``SparkTables.write_table``, timestamps as instants as dbt's Spark tables hold them), and the
control file is a copy of the DuckDB build without them and without dbt's other models
(:func:`control_copy`): ``SparkWarehouse.connect()`` must show them as views over Spark's
Parquet files, and the reference date through Spark's view. Both copies start a first night of
activation (its tables and logs dropped), so every audience is exported whole.

Compared: the tables the assets write (in each control file), every export file, every table
of the serving file and the report's page, as ``<what> (connect)`` lines of the lane's table.
Values the assets take from the clock (when a sync ran, when the report was made) are left out
(:data:`RUN_COLUMNS`, :data:`CLOCK_TEXT`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from orchestration.defs.activation.audiences import account_manager_tasks, audience_members
from orchestration.defs.activation.exports import activation_syncs
from orchestration.defs.activation.lift import campaign_lift_table
from orchestration.defs.publish import build_publish_asset
from orchestration.defs.quality.checks import table_checks
from orchestration.defs.report import build_report_asset
from orchestration.defs.resources import build_resources
from orchestration.settings import WeixiSettings
from serving.snapshot import SERVING_DATABASE
from tests.spark_lane.compare import ModelComparison, compare_tables
from warehouse.spark import SparkTables

ACTIVATION = [audience_members, account_manager_tasks, activation_syncs, campaign_lift_table]
WRITTEN = (
    "marts.audience_members",
    "marts.account_manager_tasks",
    "marts.activation_syncs",
    "marts.campaign_lift",
    "activation.audience_history",
    "activation.sync_state",
    "activation.rejections",
    "activation.erasures_applied",
)
"""What the activation assets write through ``connect()``: into the control file on Spark."""
CHECKS_WRITE = ("quality.check_results", "marts.data_quality_runs")
"""What the data-quality checks of the activation marts write (beside earlier runs' rows)."""
CONTROL_MARTS = ("marts.data_quality_runs",)
"""A mart the Python side writes (the checks' runs): it stays in the control file, beside
Spark's marts of the same schema."""
DBT_SCHEMAS = ("staging", "intermediate", "features", "marts")
RUN_COLUMNS = frozenset(
    {"synced_at", "started_at", "finished_at", "applied_at", "updated_at", "duration_seconds"}
    | {"checked_at", "sync_id", "run_id", "recorded_at", "validated_at"}
)
"""Columns of what a run took from the clock, and the ids it drew (its syncs', its own)."""
CLOCK_TEXT = re.compile(r"generated \d{4}-\d{2}-\d{2} \d{2}:\d{2}|[\d,]+\.\d hours ago")
"""What a run writes from the clock in its texts: the report's "generated" time, the freshness
checks' age of the last delivery (now minus the delivery's time)."""
LABEL = "(connect)"
OUTPUT_FOLDERS = ("exports", "reports", "serving")
"""The folders of a run's outputs (settings ``exports_dir``, ``reports_dir``, ``serving_dir``)
under the folder the lane gives each run."""


def materialise_and_compare(
    spark: SparkSession, warehouse: Path, scratch: Path
) -> list[ModelComparison]:
    """Run the assets on a copy of the DuckDB ``warehouse`` and on Spark (its inputs written
    from ``warehouse``), and compare what they wrote."""
    folders = {engine: scratch / f"connect_{engine}" for engine in ("duckdb", "spark")}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    inputs = spark_inputs(warehouse)
    _write_to_spark(SparkTables(spark), warehouse, inputs)
    files = {
        "duckdb": _first_night(warehouse, folders["duckdb"] / "warehouse.duckdb", []),
        "spark": control_copy(warehouse, folders["spark"] / "control.duckdb", inputs),
    }
    failed = {
        engine: _materialise(engine, files[engine], folders[engine], scratch) for engine in folders
    }
    status = "error" if any(failed.values()) else "success"
    note = "; ".join(f for f in failed.values() if f)
    lines = compare_written_tables(files, spark, status, LABEL)
    lines += compare_files(folders, status, LABEL)
    return [line if line.ok or not note else _with(line, note) for line in lines]


def spark_inputs(warehouse: Path) -> list[str]:
    """The DuckDB build's tables of dbt's schemas (its models, and the model assets' outputs),
    as a Spark run holds them in Spark: not those the Python side writes through
    ``connect()``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in (select unnest(?)) order by 1",
            [list(DBT_SCHEMAS)],
        ).fetchall()
    own = set(WRITTEN) | set(CONTROL_MARTS)
    return [name for (name,) in rows if name not in own]


def _write_to_spark(tables: SparkTables, warehouse: Path, names: list[str]) -> None:
    """``names`` written from ``warehouse`` to Spark, and Spark's copies of what the assets
    write dropped (what they write there must come from this run)."""
    for name in (*names, *WRITTEN):
        tables.spark.sql(f"drop table if exists {name}")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name in names:
            tables.write_table(name, _as_spark_holds(con.table(name).to_arrow_table()))


def _as_spark_holds(table: pa.Table) -> pa.Table:
    """``table`` in the types dbt's Spark tables hold: timestamps as UTC instants (a session in
    UTC), not ``timestamp_ntz``; DuckDB's unsigned fingerprints (``hash()``) as Spark's signed
    ``bigint`` (bits kept: fingerprints are compared within one warehouse only)."""
    for position, field in enumerate(table.schema):
        column = table.column(position)
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            column = column.cast(pa.timestamp(field.type.unit, "UTC"))
        elif pa.types.is_unsigned_integer(field.type):
            column = column.cast(pa.int64(), safe=False)
        table = table.set_column(position, field.name, column)
    return table


def control_copy(warehouse: Path, path: Path, spark_tables: list[str]) -> Path:
    """The control file of a Spark run: ``warehouse`` without dbt's models and the tables
    written to Spark (a first night of activation, as :func:`_first_night`)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        models = con.execute(
            "select table_schema || '.' || table_name, table_type from information_schema.tables "
            "where table_schema in (select unnest(?))",
            [list(DBT_SCHEMAS)],
        ).fetchall()
    dropped = [
        (name, kind)
        for name, kind in models
        if name not in CONTROL_MARTS and (name in spark_tables or name not in WRITTEN)
    ]
    return _first_night(warehouse, path, dropped)


def _first_night(warehouse: Path, path: Path, dropped: list[tuple[str, str]]) -> Path:
    """A copy of ``warehouse`` at ``path`` without activation's tables, nor ``dropped``
    (``(name, table type)``)."""
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:
        for name in WRITTEN:
            con.execute(f"drop table if exists {name}")
        for name, kind in dropped:
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} if exists {name}")
    return path


def _materialise(engine: str, control: Path, folder: Path, scratch: Path) -> str:
    """The assets on ``engine`` with ``control`` as the warehouse file and their folders under
    ``folder``: the failures, or an empty text."""
    settings = WeixiSettings(
        engine=engine,
        warehouse=control,
        landing=scratch / "landing",
        spark_warehouse_dir=scratch / "spark_warehouse",
        exports_dir=folder / "exports",
        serving_dir=folder / "serving",
        reports_dir=folder / "reports",
        quality_docs=folder / "quality_docs",
        model_registry=folder / "models",
        alert_log=folder / "alerts.log",
        dagster_home=folder / "dagster_home",
    ).resolved()
    upstream = [key for asset in ACTIVATION for key in asset.keys]
    checks = table_checks({tuple(key.path) for key in upstream})
    assets = [*ACTIVATION, *checks, build_publish_asset(upstream), build_report_asset(upstream)]
    result = dg.materialize(assets, resources=build_resources(settings), raise_on_error=False)
    return "; ".join(
        f"{engine} {event.step_key}: {event.step_failure_data.error.message.strip()[:300]}"
        for event in result.get_step_failure_events()
    )


def compare_written_tables(
    files: dict[str, Path], spark: SparkSession, status: str, label: str
) -> list[ModelComparison]:
    """Each table of :data:`WRITTEN`; on Spark, from the control file or, when an asset wrote it
    with ``EngineWarehouse.write`` (the lift), from Spark."""
    with (
        duckdb.connect(str(files["duckdb"]), read_only=True) as ours,
        duckdb.connect(str(files["spark"]), read_only=True) as control,
    ):
        return [
            _compared(
                f"{name} {label}",
                status,
                _table(ours, name),
                _written_on_spark(control, spark, name),
            )
            for name in (*WRITTEN, *CHECKS_WRITE)
        ]


def _written_on_spark(
    control: duckdb.DuckDBPyConnection, spark: SparkSession, name: str
) -> pa.Table | None:
    table = _table(control, name)
    if table is None and spark.catalog.tableExists(name):
        return spark.table(name).toArrow()
    return table


def compare_files(folders: dict[str, Path], status: str, label: str) -> list[ModelComparison]:
    """Every export file, every table of the serving file and the report, by their path in
    each engine's folder (:data:`OUTPUT_FOLDERS`)."""
    paths = {engine: _written_files(folder) for engine, folder in folders.items()}
    lines = []
    if paths["duckdb"] != paths["spark"]:
        differ = sorted(set(paths["duckdb"]) ^ set(paths["spark"]))
        lines.append(
            ModelComparison(
                f"files {label}",
                status,
                len(paths["duckdb"]),
                len(paths["spark"]),
                f"no: only on one engine: {', '.join(map(str, differ[:5]))}",
            )
        )
    for relative in sorted(set(paths["duckdb"]) & set(paths["spark"])):
        ours, theirs = (folders[engine] / relative for engine in ("duckdb", "spark"))
        if relative.name == SERVING_DATABASE:
            lines += _compare_serving(ours, theirs, status, label)
        else:
            lines.append(_compared(f"{relative} {label}", status, _read(ours), _read(theirs)))
    return lines


def _written_files(folder: Path) -> list[Path]:
    return sorted(
        path.relative_to(folder)
        for output in OUTPUT_FOLDERS
        for path in (folder / output).glob("**/*")
        if path.is_file() and _compared_file(path.relative_to(folder))
    )


def _compared_file(relative: Path) -> bool:
    """Whether a file written by the assets is compared: not Dagster's, nor the serving
    folder's versioned Parquet (the serving file holds the same tables), nor the checks'
    docs."""
    return relative.parts[0] in ("exports", "reports") or relative.name == SERVING_DATABASE


def _compare_serving(ours: Path, theirs: Path, status: str, label: str) -> list[ModelComparison]:
    with (
        duckdb.connect(str(ours), read_only=True) as left,
        duckdb.connect(str(theirs), read_only=True) as right,
    ):
        names = [
            name
            for (name,) in left.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema != 'serving' order by 1"
            ).fetchall()
        ]
        return [
            _compared(f"serving {name} {label}", status, _table(left, name), _table(right, name))
            for name in names
        ]


def _read(path: Path) -> pa.Table:
    """A written file as a table: Parquet as it is, any other (CSV, the report's HTML) as its
    lines in any order, without what the clock put there."""
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return pa.table({"line": CLOCK_TEXT.sub("(clock)", path.read_text()).splitlines()})


def _table(con: duckdb.DuckDBPyConnection, name: str) -> pa.Table | None:
    schema, table = name.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    return con.table(name).to_arrow_table() if found else None


def _compared(
    what: str, status: str, ours: pa.Table | None, theirs: pa.Table | None
) -> ModelComparison:
    if ours is None or theirs is None:
        match = f"no: missing on {'DuckDB' if ours is None else 'Spark'}"
    else:
        match = compare_tables(without_clock(ours), without_clock(theirs))
    return ModelComparison(
        what,
        status,
        None if ours is None else ours.num_rows,
        None if theirs is None else theirs.num_rows,
        match,
    )


def without_clock(table: pa.Table) -> pa.Table:
    """``table`` without what the run took from the clock (:data:`RUN_COLUMNS`,
    :data:`CLOCK_TEXT` in its text columns)."""
    table = table.drop_columns([c for c in table.column_names if c.lower() in RUN_COLUMNS])
    for position, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = pc.replace_substring_regex(
                table.column(position), CLOCK_TEXT.pattern, "(clock)"
            )
            table = table.set_column(position, field.name, column)
    return table


def _with(line: ModelComparison, note: str) -> ModelComparison:
    return ModelComparison(
        line.model, line.spark_status, line.rows_duckdb, line.rows_spark, f"{line.match} ({note})"
    )
