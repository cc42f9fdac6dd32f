"""Rules and frames for the output tables declared in ``data_quality.table_rules``.

Each table is validated whole, reading only the columns its rules name (so no PII column is ever
read, and wide tables stay cheap). A table that must cover a population of customers gets a
second frame: one row per customer of the population, with whether the table has them.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from data_quality.gx import gxe
from data_quality.rules import FRESHNESS, INTEGRITY, Rule
from data_quality.table_rules import DAYS_BEHIND, POPULATIONS, REFERENCE_DATE_SQL, TableRules


def table_rules(entry: TableRules, present: set[str]) -> list[Rule]:
    """The rules of ``entry`` for a frame with the columns ``present``. Rules on a missing column
    are left out; the column-set rule reports the column as missing."""
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


def table_frame(con: duckdb.DuckDBPyConnection, entry: TableRules) -> pd.DataFrame:
    """The columns of ``entry``'s table that its rules name (those that exist), plus the days
    behind the reference date when the table has an as-of column."""
    existing = {
        row[0]
        for row in con.execute(f"select column_name from (describe {entry.table})").fetchall()
    }
    columns = [c for c in entry.columns if c in existing]
    select = ", ".join(f'"{c}"' for c in columns) or "null as _no_column"
    if entry.as_of in existing:
        select += f', ({REFERENCE_DATE_SQL}) - "{entry.as_of}"::date as {DAYS_BEHIND}'
    return con.execute(f"select {select} from {entry.table}").df()


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


def coverage_frame(con: duckdb.DuckDBPyConnection, entry: TableRules) -> pd.DataFrame:
    """One row per customer of ``entry``'s population, with whether ``entry``'s table holds
    them."""
    return con.execute(
        f"""
        select population.customer_id, covered.customer_id is not null as present
        from ({POPULATIONS[entry.population]}) as population
        left join (select distinct customer_id from {entry.table}) as covered
            on covered.customer_id = population.customer_id
        order by population.customer_id
        """
    ).df()
