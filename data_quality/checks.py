"""Check a raw source over delivery days (read frames, validate them with GX), or an output
table (measure its rules in SQL); return the results. The Dagster checks call these; so can a
script or a test.

A ranged run (a backfill) validates each raw table once over the whole range, not day by day,
in chunks of whole days of at most :data:`MAX_ROWS_PER_FRAME` rows so that memory stays bounded
on big backfills. Keys are unique per delivery day, so chunking by days changes no result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from data_quality.marts import measure_coverage, measure_table
from data_quality.raw_rules import raw_frame_parameters, raw_frame_sql, raw_rules
from data_quality.rules import RuleResult
from data_quality.table_rules import TableRules
from data_quality.validation import FrameValidation, record_measured, validate_frame
from data_quality.volume import volume_frame, volume_rules
from ingest.contract import Source

MAX_ROWS_PER_FRAME = 1_000_000


def day_chunks(
    con: duckdb.DuckDBPyConnection, table: str, start: date, end: date, max_rows: int
) -> Iterator[tuple[date, date]]:
    """Consecutive day ranges covering ``start``..``end``, each with at most ``max_rows`` rows
    of ``table`` (a single day may exceed it)."""
    counts = con.execute(
        f"select _partition_date, count(*) from {table} "
        "where _partition_date between ? and ? group by 1 order by 1",
        [start, end],
    ).fetchall()
    chunk_start, rows = start, 0
    for day, n in counts:
        if rows and rows + n > max_rows:
            yield chunk_start, day - timedelta(days=1)
            chunk_start, rows = day, 0
        rows += n
    yield chunk_start, end


def merge(validations: list[FrameValidation]) -> list[RuleResult]:
    """The rule results of several chunks of one table as one result per rule: failed if any
    chunk failed, counts added up."""
    merged: dict[tuple[str, str, str], RuleResult] = {}
    for validation in validations:
        for result in validation.results:
            key = (result.dataset, result.check.name, result.rule)
            if key not in merged:
                merged[key] = result
                continue
            seen = merged[key]
            unexpected = (
                None
                if seen.unexpected is None and result.unexpected is None
                else (seen.unexpected or 0) + (result.unexpected or 0)
            )
            merged[key] = replace(
                seen,
                passed=seen.passed and result.passed,
                rows=seen.rows + result.rows,
                unexpected=unexpected,
                detail=seen.detail or result.detail,
            )
    return list(merged.values())


def check_raw_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    start: date,
    end: date,
    now: datetime,
    docs_root: Path,
    run_name: str,
    max_rows: int = MAX_ROWS_PER_FRAME,
) -> list[FrameValidation]:
    """Contract and plausibility rules on every raw table of ``source`` for the delivery days
    ``start``..``end``; ``now`` is the shop's local time."""
    validations = []
    for entity in source.entities:
        table = source.raw_table(entity)
        for chunk_start, chunk_end in day_chunks(con, table, start, end, max_rows):
            frame = con.execute(
                raw_frame_sql(source, entity), raw_frame_parameters(chunk_start, chunk_end, now)
            ).df()
            rules = raw_rules(source, entity, set(frame.columns))
            validations.append(validate_frame(docs_root, table, frame, rules, run_name))
    return validations


def check_volume(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    start: date,
    end: date,
    docs_root: Path,
    run_name: str,
) -> FrameValidation:
    """The volume rules of ``source`` for the delivery days ``start``..``end``."""
    frame = volume_frame(con, source.name, start, end)
    return validate_frame(docs_root, f"raw.{source.name}__volume", frame, volume_rules(), run_name)


def check_table(
    con: duckdb.DuckDBPyConnection, entry: TableRules, docs_root: Path, run_name: str
) -> list[FrameValidation]:
    """The rules of an output table, and its coverage of its population when it has rows,
    measured in SQL (no table is copied into memory)."""
    rows, columns, measured = measure_table(con, entry)
    validations = [record_measured(docs_root, entry.table, rows, measured, run_name)]
    if entry.population and rows and "customer_id" in columns:
        population, coverage = measure_coverage(con, entry)
        validations.append(
            record_measured(docs_root, entry.coverage_dataset, population, [coverage], run_name)
        )
    return validations
