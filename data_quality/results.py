"""Check results in the warehouse, for BI: every rule of every run, and one summary row per run
and source or table.

``quality.check_results`` holds one row per rule evaluated: run, dataset, check, rule, passed,
rows checked, unexpected rows and a detail (for an output table, a few example values).
``marts.data_quality_runs`` holds one row per Dagster run and source (raw) or table (marts):
rows delivered, loaded and quarantined from the loader's log ``raw._loads`` (loads are recorded
under their run id), rows loaded whose parent never arrived (order lines without their order),
and rules passed and failed. Recording a check again in the same run (a retried step) replaces
its rows, so both tables are idempotent per run id; the summary is recomputed from the rule rows
each time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from data_quality.rules import RuleResult
from warehouse.table_spec import SpecColumn, TableSpec

_RUN_ID = SpecColumn("run_id", "string", "The Dagster run.")
_LAYER = SpecColumn("layer", "string", "`raw` (a source) or `marts` (an output table).")
_DATASET = SpecColumn("dataset", "string", "The source (raw) or table (marts) checked.")
_PARTITION_START = SpecColumn("partition_start", "date", "First delivery day checked (raw only).")
_PARTITION_END = SpecColumn("partition_end", "date", "Last delivery day checked (raw only).")
_CHECKED_AT = SpecColumn("checked_at", "timestamp", "When the rules ran (shop time).")
CHECK_RESULTS = TableSpec(
    name="quality.check_results",
    description="Every rule of every data check of every run, for BI: passed or not, rows "
    "checked and unexpected rows (counts; never a value of a delivered or personal column; "
    "see docs/data_quality.md).",
    grain="One row per rule evaluated per run",
    key=("run_id", "dataset", "check_name", "table_name", "rule"),
    columns=(
        _RUN_ID,
        _LAYER,
        _DATASET,
        SpecColumn("check_name", "string", "The Dagster asset check."),
        SpecColumn("severity", "string", "`error` (blocking) or `warn`."),
        SpecColumn("table_name", "string", "The table the rule ran on."),
        SpecColumn("rule", "string", "The rule."),
        SpecColumn("expectation", "string", "The Great Expectations expectation behind it."),
        SpecColumn("column_name", "string", "The column, for column rules."),
        SpecColumn("passed", "bool", "Whether the rule held."),
        SpecColumn("rows_checked", "int64", "Rows the rule looked at."),
        SpecColumn("unexpected_rows", "int64", "Rows that broke it."),
        SpecColumn(
            "detail",
            "string",
            "What broke, in words: for an output table, a few example values of the rule's "
            "column (never a personal column); for a delivery, no values.",
        ),
        _PARTITION_START,
        _PARTITION_END,
        _CHECKED_AT,
    ),
)
QUALITY_RUNS = TableSpec(
    name="marts.data_quality_runs",
    description="One summary per run and source or table: rows delivered, loaded and "
    "quarantined (from the loader's log `raw._loads`) and rules passed and failed.",
    grain="One row per Dagster run and source or table",
    key=("run_id", "dataset"),
    columns=(
        _RUN_ID,
        _LAYER,
        _DATASET,
        _PARTITION_START,
        _PARTITION_END,
        SpecColumn("rows_in", "int64", "Rows delivered (raw) or the table's row count (marts)."),
        SpecColumn("rows_loaded", "int64", "Rows loaded (raw only)."),
        SpecColumn("rows_quarantined", "int64", "Rows quarantined (raw only)."),
        SpecColumn(
            "rows_without_parent",
            "int64",
            "Rows loaded whose parent never arrived, e.g. order lines without their order "
            "(raw only).",
        ),
        SpecColumn("checks_passed", "int64", "Rules that held."),
        SpecColumn("checks_failed", "int64", "Rules that broke."),
        SpecColumn("blocking_failures", "int64", "Broken rules of blocking checks."),
        SpecColumn("checked_at", "timestamp", "When the last rule ran (shop time)."),
    ),
)


@dataclass(frozen=True)
class CheckRun:
    """Which run checked which source (``layer`` raw, ``dataset`` the source name) or table
    (``layer`` marts, ``dataset`` the table), over which delivery days (raw only)."""

    run_id: str
    layer: str
    dataset: str
    partition_start: date | None = None
    partition_end: date | None = None


def ensure_result_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the two tables when they do not exist."""
    CHECK_RESULTS.create(con)
    QUALITY_RUNS.create(con)


def record_results(
    con: duckdb.DuckDBPyConnection,
    run: CheckRun,
    checks: list[str],
    results: list[RuleResult],
    checked_at: datetime,
) -> None:
    """Replace the rows of ``checks`` for ``run`` with ``results`` and recompute the run's
    summary row, in one transaction."""
    ensure_result_tables(con)
    rows = pd.DataFrame(
        [
            {
                "run_id": run.run_id,
                "layer": run.layer,
                "dataset": run.dataset,
                "check_name": r.check.name,
                "severity": "error" if r.check.blocking else "warn",
                "table_name": r.dataset,
                "rule": r.rule,
                "expectation": r.expectation,
                "column_name": r.column,
                "passed": r.passed,
                "rows_checked": r.rows,
                "unexpected_rows": r.unexpected,
                "detail": r.detail or None,
                "partition_start": run.partition_start,
                "partition_end": run.partition_end,
                "checked_at": checked_at,
            }
            for r in results
        ],
        columns=list(CHECK_RESULTS.column_names),
    ).astype({"rows_checked": "Int64", "unexpected_rows": "Int64"})
    con.execute("begin")
    try:
        con.execute(
            f"delete from {CHECK_RESULTS.name} where run_id = ? and dataset = ? "
            "and list_contains(?, check_name)",
            [run.run_id, run.dataset, checks],
        )
        con.register("_results", rows)
        con.execute(f"insert into {CHECK_RESULTS.name} by name select * from _results")
        con.unregister("_results")
        _refresh_summary(con, run)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _refresh_summary(con: duckdb.DuckDBPyConnection, run: CheckRun) -> None:
    con.execute(
        f"delete from {QUALITY_RUNS.name} where run_id = ? and dataset = ?",
        [run.run_id, run.dataset],
    )
    if run.layer == "raw":
        loads = """
            select sum(rows_read) as rows_in, sum(rows_loaded) as rows_loaded,
                sum(rows_quarantined) as rows_quarantined,
                sum(rows_without_parent) as rows_without_parent
            from raw._loads where load_id = $run_id and source = $dataset
        """
    else:
        loads = f"""
            select max(rows_checked) as rows_in, null::bigint as rows_loaded,
                null::bigint as rows_quarantined, null::bigint as rows_without_parent
            from {CHECK_RESULTS.name}
            where run_id = $run_id and table_name = $dataset and check_name = 'integrity'
        """
    con.execute(
        f"""
        insert into {QUALITY_RUNS.name} by name
        with rules as (
            select * from {CHECK_RESULTS.name} where run_id = $run_id and dataset = $dataset
        ),
        loads as ({loads})
        select
            $run_id as run_id,
            any_value(rules.layer) as layer,
            $dataset as dataset,
            min(rules.partition_start) as partition_start,
            max(rules.partition_end) as partition_end,
            any_value(loads.rows_in) as rows_in,
            any_value(loads.rows_loaded) as rows_loaded,
            any_value(loads.rows_quarantined) as rows_quarantined,
            any_value(loads.rows_without_parent) as rows_without_parent,
            count(*) filter (where rules.passed) as checks_passed,
            count(*) filter (where not rules.passed) as checks_failed,
            count(*) filter (where not rules.passed and rules.severity = 'error')
                as blocking_failures,
            max(rules.checked_at) as checked_at
        from rules cross join loads
        having count(*) > 0
        """,
        {"run_id": run.run_id, "dataset": run.dataset},
    )
