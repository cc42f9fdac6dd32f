"""Rules for the output tables declared in ``data_quality.table_rules``, measured in DuckDB SQL.

The rules are Great Expectations expectations (their names, checks and Data Docs pages), but
no table is copied into pandas to evaluate them: every rule of a table becomes aggregates of one
query (rows breaking it, nulls in its column, a few example values), and a table that must cover
a population of customers gets a second query joining the population to the table. Only the
columns the rules name are read (never a PII column), so wide tables of a million rows stay
cheap. ``data_quality.validation.record_measured`` stores the measures as GX results.
"""

from __future__ import annotations

from typing import Any

import duckdb

from data_quality.gx import gxe
from data_quality.rules import FRESHNESS, INTEGRITY, Rule
from data_quality.table_rules import DAYS_BEHIND, POPULATIONS, REFERENCE_DATE_SQL, TableRules
from data_quality.validation import EngineError, Measured
from ingest.row_rules import sql_literal

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


def existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The columns of ``table``; raises ``duckdb.CatalogException`` when it does not exist."""
    return {row[0] for row in con.execute(f"select column_name from (describe {table})").fetchall()}


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return sql_literal(str(value))


def _broken(expectation: gxe.Expectation) -> str | None:
    """A predicate true for a row that breaks a column expectation, None for the others. Nulls
    break only the not-null rule, as in GX (other column rules skip missing values)."""
    kwargs = expectation.configuration.kwargs
    kind = expectation.expectation_type
    column = _quote(kwargs.get("column") or "")
    if kind == "expect_column_values_to_not_be_null":
        return f"{column} is null"
    if kind == "expect_column_values_to_be_between":
        bounds = [
            f"{column} {op} {_literal(kwargs[name])}"
            for name, op in (("min_value", "<"), ("max_value", ">"))
            if kwargs.get(name) is not None
        ]
        return f"{column} is not null and ({' or '.join(bounds) or 'false'})"
    if kind == "expect_column_values_to_be_in_set":
        values = ", ".join(_literal(v) for v in kwargs["value_set"]) or "null"
        return f"{column} is not null and {column} not in ({values})"
    return None


def _duplicates(expectation: gxe.Expectation, relation: str) -> str | None:
    """A scalar query of the rows of ``relation`` sharing their key with another row, and a few
    of those keys, for a uniqueness expectation (rows whose key is all null are skipped, as in
    GX)."""
    kwargs = expectation.configuration.kwargs
    columns = kwargs.get("column_list") or ([kwargs["column"]] if kwargs.get("column") else [])
    if expectation.expectation_type not in (
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
    ):
        return None
    quoted = [_quote(c) for c in columns]
    key = " || ', ' || ".join(f"coalesce({c}::varchar, 'null')" for c in quoted)
    return f"""select {{'u': coalesce(sum(n), 0), 'e': min(key, {EXAMPLES})}}
        from (
            select {key} as key, count(*) as n from ({relation})
            where not ({" and ".join(f"{c} is null" for c in quoted)})
            group by all having count(*) > 1
        )"""


def _aggregates(number: int, rule: Rule, relation: str) -> list[str]:
    """The select items measuring rule ``number`` over ``relation``: ``u<n>`` rows breaking it,
    ``e<n>`` example values, ``v<n>`` non-null values in its column; ``d<n>`` holds ``u`` and
    ``e`` of a uniqueness rule."""
    expectation = rule.expectation
    kind = expectation.expectation_type
    if kind == "expect_table_row_count_to_be_between":
        return []
    duplicates = _duplicates(expectation, relation)
    if duplicates:
        return [f"({duplicates}) as d{number}"]
    broken = _broken(expectation)
    if broken is None:
        return []
    column = _quote(expectation.configuration.kwargs["column"])
    items = [f"count(*) filter (where {broken}) as u{number}"]
    if kind != "expect_column_values_to_not_be_null":
        items += [
            f"min({column}::varchar, {EXAMPLES}) filter (where {broken}) as e{number}",
            f"count({column}) as v{number}",
        ]
    return items


def _map_result(rows: int, unexpected: int, nonnull: int | None, examples: list | None) -> dict:
    """GX's ``SUMMARY`` result of a column map expectation, from the counts."""
    nonmissing = rows if nonnull is None else nonnull
    result: dict[str, Any] = {
        "element_count": rows,
        "unexpected_count": unexpected,
        "unexpected_percent": 100 * unexpected / nonmissing if nonmissing else None,
        "partial_unexpected_list": list(examples or []),
    }
    if nonnull is not None:
        missing = rows - nonnull
        result |= {
            "missing_count": missing,
            "missing_percent": 100 * missing / rows if rows else None,
            "unexpected_percent_total": 100 * unexpected / rows if rows else None,
            "unexpected_percent_nonmissing": result["unexpected_percent"],
        }
    return result


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _checked_relation(entry: TableRules, existing: set[str]) -> str:
    """The columns of ``entry``'s table its rules name, plus the days behind the reference
    date when it has an as-of column."""
    columns = [_quote(c) for c in entry.columns if c in existing]
    if entry.as_of in existing:
        columns.append(f"({REFERENCE_DATE_SQL}) - {_quote(entry.as_of)}::date as {DAYS_BEHIND}")
    return f"select {', '.join(columns) or 'null as _no_column'} from {entry.table}"


def _measure(
    con: duckdb.DuckDBPyConnection, dataset: str, relation: str, rules: list[Rule]
) -> dict[str, Any]:
    """Every aggregate of ``rules`` over ``relation`` in one query. When DuckDB cannot evaluate
    it, each rule is tried alone so that the error names the rules at fault."""

    def query(numbered: list[tuple[int, Rule]]) -> str:
        items = ["count(*) as row_count"]
        items += [item for number, rule in numbered for item in _aggregates(number, rule, relation)]
        return f"select {', '.join(items)} from ({relation})"

    numbered = list(enumerate(rules))
    try:
        return _run(con, query(numbered))
    except duckdb.CatalogException:
        raise
    except duckdb.Error as exc:
        errors = []
        for number, rule in numbered:
            try:
                con.execute(query([(number, rule)])).fetchone()
            except duckdb.Error as rule_exc:
                errors.append(f"{rule.name}: {rule_exc}")
        raise EngineError(
            f"{dataset}: DuckDB could not evaluate "
            + ("; ".join(errors) if errors else f"its rules: {exc}")
        ) from exc


def measure_table(
    con: duckdb.DuckDBPyConnection, entry: TableRules
) -> tuple[int, set[str], list[Measured]]:
    """The rows of ``entry``'s table, its columns and the measure of each of its rules, in
    one pass over the columns the rules name. Raises ``duckdb.CatalogException`` when the
    table does not exist and :class:`EngineError` when a rule cannot be evaluated."""
    existing = existing_columns(con, entry.table)
    present = existing | ({DAYS_BEHIND} if entry.as_of in existing else set())
    rules = table_rules(entry, present)
    values = _measure(con, entry.table, _checked_relation(entry, existing), rules)
    rows = values["row_count"]
    measured = []
    for number, rule in enumerate(rules):
        kwargs = rule.expectation.configuration.kwargs
        kind = rule.expectation.expectation_type
        if kind == "expect_table_columns_to_match_set":
            missing = [c for c in kwargs["column_set"] if c not in existing]
            result = {
                "observed_value": sorted(existing & set(kwargs["column_set"])),
                "details": {"mismatched": {"missing": missing}} if missing else {},
            }
            measured.append(Measured(rule, not missing, result))
        elif kind == "expect_table_row_count_to_be_between":
            low, high = kwargs.get("min_value"), kwargs.get("max_value")
            held = (low is None or rows >= low) and (high is None or rows <= high)
            measured.append(Measured(rule, held, {"observed_value": rows}))
        else:
            if f"d{number}" in values:
                unexpected, examples = values[f"d{number}"]["u"], values[f"d{number}"]["e"]
            elif f"u{number}" in values:
                unexpected, examples = values[f"u{number}"], values.get(f"e{number}")
            else:
                raise EngineError(f"{entry.table}: {rule.name}: no SQL measure for {kind}")
            unexpected = int(unexpected)
            result = _map_result(rows, unexpected, values.get(f"v{number}"), examples)
            measured.append(Measured(rule, unexpected == 0, result))
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
    return rows, Measured(rule, unexpected == 0, _map_result(rows, unexpected, rows, examples))
