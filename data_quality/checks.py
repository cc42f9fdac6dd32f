"""Check a raw source over delivery days or an output table: measure the rules in DuckDB SQL
(``data_quality.measure``), record them as GX results, return them. The Dagster checks call
these; so can a script or a test.

A ranged run (a backfill) measures each raw table once over the whole range: one query per
table, nothing copied out, so memory does not grow with the range. Raw tables hold personal
data, so their results keep counts only, never an example value.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb

from data_quality.marts import measure_coverage, measure_table
from data_quality.measure import measure, relation_columns
from data_quality.raw_rules import raw_relation, raw_rules
from data_quality.rules import RuleResult
from data_quality.table_rules import TableRules
from data_quality.validation import Validation, record_measured
from data_quality.volume import volume_relation, volume_rules
from ingest.contract import Source


def all_results(validations: list[Validation]) -> list[RuleResult]:
    """The rule results of several validations (one per table, volume or coverage), in order."""
    return [result for validation in validations for result in validation.results]


def check_raw_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    start: date,
    end: date,
    now: datetime,
    docs_root: Path,
    run_name: str,
) -> list[Validation]:
    """Contract and plausibility rules on every raw table of ``source`` for the delivery days
    ``start``..``end``; ``now`` is the shop's local time."""
    validations = []
    for entity in source.entities:
        table = source.raw_table(entity)
        relation = raw_relation(source, entity, start, end, now)
        present = set(relation_columns(con, relation))
        rows, _, measured = measure(con, table, relation, raw_rules(source, entity, present))
        validations.append(record_measured(docs_root, table, rows, measured, run_name))
    return validations


def check_volume(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    start: date,
    end: date,
    docs_root: Path,
    run_name: str,
) -> Validation:
    """The volume rules of ``source`` for the delivery days ``start``..``end``."""
    dataset = f"raw.{source.name}__volume"
    relation = volume_relation(source.name, start, end)
    rows, _, measured = measure(con, dataset, relation, volume_rules())
    return record_measured(docs_root, dataset, rows, measured, run_name)


def check_table(
    con: duckdb.DuckDBPyConnection,
    entry: TableRules,
    docs_root: Path,
    run_name: str,
    window: tuple[date, date] | None = None,
) -> list[Validation]:
    """The rules of an output table, and its coverage of its population when it has rows,
    measured in SQL (no table is copied into memory); ``window``: the delivery days the run
    wrote (see ``TableRules.delivered_on``)."""
    rows, columns, measured = measure_table(con, entry, window)
    validations = [record_measured(docs_root, entry.table, rows, measured, run_name)]
    if entry.population and rows and "customer_id" in columns:
        population, coverage = measure_coverage(con, entry)
        validations.append(
            record_measured(docs_root, entry.coverage_dataset, population, [coverage], run_name)
        )
    return validations
