"""Rules for the output tables declared in ``data_quality.table_rules``, measured in DuckDB SQL.

The rules are Great Expectations expectations (their names, checks and Data Docs pages), but
no table is copied into pandas to evaluate them: every rule of a table becomes aggregates of one
query (rows breaking it, nulls in its column, a few example values), and a table that must cover
a population of customers gets a second query joining the population to the table. Only the
columns the rules name are read (never a PII column), so wide tables of a million rows stay
cheap. ``data_quality.validation.record_measured`` stores the measures as GX results.
"""

from __future__ import annotations

from datetime import date

import duckdb

from data_quality.gx import gxe
from data_quality.measure import map_result, measure, quote, relation_columns
from data_quality.rules import FRESHNESS, INTEGRITY, Rule
from data_quality.table_rules import DAYS_BEHIND, POPULATIONS, REFERENCE_DATE_SQL, TableRules
from data_quality.validation import EngineError, Measured

EXAMPLES = 3
"""Example values kept per broken rule (the smallest, as text), to show what broke."""


def table_rules(entry: TableRules, present: set[str]) -> list[Rule]:
    """The rules of ``entry`` for a table with the columns ``present``. Rules on a missing
    column are left out; the column-set rule reports the column as missing."""
    rules = [
        Rule(
            gxe.ExpectTableColumnsToMatchSet(column_set=entry.columns, exact_match=False),
            INTEGRITY,
            "columns present",
        )
    ]

    def add(
        columns: tuple[str, ...], expectation: gxe.Expectation, check=INTEGRITY, label=""
    ) -> None:
        if set(columns) <= present:
            rules.append(Rule(expectation, check, label))

    if len(entry.key) == 1:
        add(
            entry.key,
            gxe.ExpectColumnValuesToBeUnique(column=entry.key[0]),
            label=f"one row per {entry.key[0]}",
        )
    elif entry.key:
        add(
            entry.key,
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(entry.key)),
            label=f"one row per {', '.join(entry.key)}",
        )
    for column in dict.fromkeys([*entry.key, *entry.not_null]):
        add((column,), gxe.ExpectColumnValuesToNotBeNull(column=column))
    for column, (low, high) in entry.ranges.items():
        add(
            (column,),
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
        )
    for column in entry.probabilities:
        add(
            (column,),
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1),
            label=f"probability in [0, 1]({column})",
        )
    for column, values in entry.allowed.items():
        add((column,), gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))
    rules.append(Rule(gxe.ExpectTableRowCountToBeBetween(min_value=1), FRESHNESS, "table has rows"))
    if entry.as_of:
        add(
            (DAYS_BEHIND,),
            gxe.ExpectColumnValuesToBeBetween(column=DAYS_BEHIND, min_value=0, max_value=0),
            FRESHNESS,
            f"as of the current reference date({entry.as_of})",
        )
    return rules


def coverage_rules(entry: TableRules) -> list[Rule]:
    """Every customer of ``entry``'s population has a row in the table."""
    population = (entry.population or "").replace("_", " ")
    return [
        Rule(
            gxe.ExpectColumnValuesToBeInSet(column="present", value_set=[True]),
            INTEGRITY,
            f"every one of the {population} present",
        )
    ]


def _checked_relation(entry: TableRules, existing: set[str]) -> str:
    """The columns of ``entry``'s table its rules name, plus the days behind the reference
    date when it has an as-of column."""
    columns = [quote(c) for c in entry.columns if c in existing]
    if entry.as_of in existing:
        columns.append(f"({REFERENCE_DATE_SQL}) - {quote(entry.as_of)}::date as {DAYS_BEHIND}")
    return f"select {', '.join(columns) or 'null as _no_column'} from {entry.table}"


def _keys_delivered(entry: TableRules, relation: str, window: tuple[date, date]) -> str:
    """The rows of ``relation`` whose key is the key of a row of ``entry``'s table delivered in
    ``window`` (inclusive days): where a key delivered then also occurs."""
    (key,) = entry.key
    start, end = (day.isoformat() for day in window)
    return f"""select * from ({relation}) where {quote(key)} in (
        select {quote(key)} from {entry.table}
        where {quote(entry.delivered_on or "")} between date '{start}' and date '{end}'
    )"""


def measure_table(
    con: duckdb.DuckDBPyConnection, entry: TableRules, window: tuple[date, date] | None = None
) -> tuple[int, set[str], list[Measured]]:
    """The rows of ``entry``'s table, its columns and the measure of each of its rules, in
    one pass over the columns the rules name. With the delivery days ``window`` of a run, a
    table with ``delivered_on`` has its key checked for the keys delivered then (see
    ``TableRules.delivered_on``). Raises ``duckdb.CatalogException`` when the table does not
    exist and :class:`EngineError` when a rule cannot be evaluated."""
    existing = set(relation_columns(con, entry.table))
    relation = _checked_relation(entry, existing)
    present = existing | ({DAYS_BEHIND} if entry.as_of in existing else set())
    rules = table_rules(entry, present)
    keys = None
    if window and entry.delivered_on in existing and set(entry.key) <= existing:
        keys = _keys_delivered(entry, relation, window)
    rows, _, measured = measure(con, entry.table, relation, rules, EXAMPLES, keys)
    return rows, existing, measured


def measure_coverage(con: duckdb.DuckDBPyConnection, entry: TableRules) -> tuple[int, Measured]:
    """The customers of ``entry``'s population and the measure of its coverage rule: how many
    have no row in the table, and a few of their ids."""
    (rule,) = coverage_rules(entry)
    relation = f"""
        select population.customer_id, covered.customer_id is not null as present
        from ({POPULATIONS[entry.population]}) as population
        left join (select distinct customer_id from {entry.table}) as covered
            on covered.customer_id = population.customer_id
    """
    try:
        rows, unexpected, examples = con.execute(
            f"""select count(*), count(*) filter (where not present),
                min(customer_id::varchar, {EXAMPLES}) filter (where not present)
            from ({relation})"""
        ).fetchone()
    except duckdb.CatalogException:
        raise
    except duckdb.Error as exc:
        raise EngineError(f"{entry.coverage_dataset}: {rule.name}: {exc}") from exc
    return rows, Measured(rule, unexpected == 0, map_result(rows, unexpected, rows, examples))
