"""Check results in the warehouse, for BI: every rule of every run, and one summary row per run
and source or table.

``quality.check_results`` holds one row per rule evaluated: run, dataset, check, rule, passed,
rows checked and unexpected rows (counts only). ``marts.data_quality_runs`` holds one row per
Dagster run and source (raw) or table (marts): rows delivered, loaded and quarantined from the
loader's log ``raw._loads`` (loads are recorded under their run id), rows loaded whose parent
never arrived (order lines without their order), and rules passed and
failed. Recording a check again in the same run (a retried step) replaces its rows, so both
tables are idempotent per run id; the summary is recomputed from the rule rows each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from data_quality.rules import RuleResult

CHECK_RESULTS = "quality.check_results"
QUALITY_RUNS = "marts.data_quality_runs"

_CHECK_RESULTS_COLUMNS = {
    "run_id": "varchar",
    "layer": "varchar",
    "dataset": "varchar",
    "check_name": "varchar",
    "severity": "varchar",
    "table_name": "varchar",
    "rule": "varchar",
    "expectation": "varchar",
    "column_name": "varchar",
    "passed": "boolean",
    "rows_checked": "bigint",
    "unexpected_rows": "bigint",
    "detail": "varchar",
    "partition_start": "date",
    "partition_end": "date",
    "checked_at": "timestamp",
}
_QUALITY_RUNS_COLUMNS = {
    "run_id": "varchar",
    "layer": "varchar",
    "dataset": "varchar",
    "partition_start": "date",
    "partition_end": "date",
    "rows_in": "bigint",
    "rows_loaded": "bigint",
    "rows_quarantined": "bigint",
    "rows_without_parent": "bigint",
    "checks_passed": "bigint",
    "checks_failed": "bigint",
    "blocking_failures": "bigint",
    "checked_at": "timestamp",
}


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
    for table, columns in (
        (CHECK_RESULTS, _CHECK_RESULTS_COLUMNS),
        (QUALITY_RUNS, _QUALITY_RUNS_COLUMNS),
    ):
        con.execute(f"create schema if not exists {table.split('.')[0]}")
        ddl = ", ".join(f"{name} {type_}" for name, type_ in columns.items())
        con.execute(f"create table if not exists {table} ({ddl})")
        existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
        # Columns added later are added to the tables of warehouses created before them.
        for name, type_ in columns.items():
            if name not in existing:
                con.execute(f"alter table {table} add column {name} {type_}")


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
        columns=list(_CHECK_RESULTS_COLUMNS),
    ).astype({"rows_checked": "Int64", "unexpected_rows": "Int64"})
    con.execute("begin")
    try:
        con.execute(
            f"delete from {CHECK_RESULTS} where run_id = ? and dataset = ? "
            "and list_contains(?, check_name)",
            [run.run_id, run.dataset, checks],
        )
        con.register("_results", rows)
        con.execute(f"insert into {CHECK_RESULTS} by name select * from _results")
        con.unregister("_results")
        _refresh_summary(con, run)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _refresh_summary(con: duckdb.DuckDBPyConnection, run: CheckRun) -> None:
    con.execute(
        f"delete from {QUALITY_RUNS} where run_id = ? and dataset = ?", [run.run_id, run.dataset]
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
            from {CHECK_RESULTS}
            where run_id = $run_id and table_name = $dataset and check_name = 'integrity'
        """
    con.execute(
        f"""
        insert into {QUALITY_RUNS} by name
        with rules as (
            select * from {CHECK_RESULTS} where run_id = $run_id and dataset = $dataset
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
