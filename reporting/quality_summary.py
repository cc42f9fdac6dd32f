"""Data quality: the latest check results of every source and output table
(``marts.data_quality_runs`` and ``quality.check_results``), readable offline, the same results
the Great Expectations Data Docs show."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from data_quality.results import CHECK_RESULTS, QUALITY_RUNS
from reporting.figures import GREEN, ORANGE, RED, drawing
from reporting.reads import read
from reporting.section import Chart, Section, Table
from warehouse.table_spec import table_exists

TITLE = "Data quality"
MAX_FAILED_RULES = 30

LATEST_SQL = f"""
    select layer, dataset, run_id, partition_start, partition_end, rows_in, rows_loaded,
        rows_quarantined, rows_without_parent, checks_passed, checks_failed,
        blocking_failures, checked_at
    from {QUALITY_RUNS.name}
    qualify row_number() over (partition by dataset order by checked_at desc, run_id) = 1
    order by layer desc, dataset
"""
FAILED_SQL = f"""
    with latest as ({LATEST_SQL})
    select r.dataset, r.check_name, r.severity, r.rule, r.column_name, r.rows_checked,
        r.unexpected_rows, r.detail
    from {CHECK_RESULTS.name} r
    inner join latest using (run_id, dataset)
    where not r.passed
    order by r.severity, r.dataset, r.check_name, r.rule
    limit {MAX_FAILED_RULES}
"""


def draw_checks(latest: pd.DataFrame) -> Chart:
    """One bar per source and table: rules passed, failed as a warning and failed blocking, in
    its latest check."""
    rows = latest.iloc[::-1].reset_index(drop=True)
    warned = rows["checks_failed"] - rows["blocking_failures"]
    # Sources are named alone (crm), tables with their schema (marts.customer_360).
    labels = [
        name if "." in name else f"{layer}.{name}"
        for layer, name in zip(rows["layer"], rows["dataset"], strict=True)
    ]
    with drawing(height=1.0 + 0.26 * len(rows)) as d:
        (ax,) = d.axes
        y = np.arange(len(rows))
        ax.barh(y, rows["checks_passed"], color=GREEN, label="passed")
        ax.barh(y, warned, left=rows["checks_passed"], color=ORANGE, label="warning")
        ax.barh(
            y,
            rows["blocking_failures"],
            left=rows["checks_passed"] + warned,
            color=RED,
            label="blocking failure",
        )
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("rules")
        ax.legend(frameon=False, loc="lower right")
        ax.set_title(
            f"{int(rows['checks_passed'].sum()):,} rules passed, {int(warned.sum()):,} warnings, "
            f"{int(rows['blocking_failures'].sum()):,} blocking failures"
        )
    return Chart(
        "Rules checked, by source and table",
        "The latest check of each delivery source (raw) and output table (marts): green "
        "passed, orange warned, red stopped the run before its data was published.",
        d.svg,
    )


def _days(start: object, end: object) -> str:
    if pd.isna(start):
        return ""
    return f"{pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}"


def loads_table(latest: pd.DataFrame) -> Table:
    """Rows delivered, loaded and quarantined per source in its latest check."""
    raw = latest[latest["layer"] == "raw"]
    return Table(
        "Deliveries in the latest check of each source",
        ("source", "days", "rows delivered", "loaded", "quarantined", "without parent"),
        [
            (
                r.dataset,
                _days(r.partition_start, r.partition_end),
                *(
                    "" if pd.isna(v) else f"{int(v):,}"
                    for v in (r.rows_in, r.rows_loaded, r.rows_quarantined, r.rows_without_parent)
                ),
            )
            for r in raw.itertuples()
        ],
    )


def failed_table(failed: pd.DataFrame) -> Table:
    """The rules that broke in the latest checks (counts and words, never values)."""
    return Table(
        f"Rules that broke (up to {MAX_FAILED_RULES})",
        ("dataset", "check", "severity", "rule", "column", "unexpected rows", "detail"),
        [
            (
                r.dataset,
                r.check_name,
                r.severity,
                r.rule,
                r.column_name or "",
                "" if pd.isna(r.unexpected_rows) else f"{int(r.unexpected_rows):,}",
                r.detail or "",
            )
            for r in failed.itertuples()
        ],
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The data quality section."""
    part = Section(TITLE)
    latest = read(con, QUALITY_RUNS.name, LATEST_SQL, part.notes, "no check has run yet")
    if latest is None:
        return part
    part.charts.append(draw_checks(latest))
    if (latest["layer"] == "raw").any():
        part.tables.append(loads_table(latest))
    if table_exists(con, CHECK_RESULTS.name):
        failed = con.execute(FAILED_SQL).df()
        if not failed.empty:
            part.tables.append(failed_table(failed))
    return part
