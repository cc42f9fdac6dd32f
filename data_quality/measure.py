"""Rules measured in DuckDB SQL: the one place where a Great Expectations expectation becomes SQL.

Every rule of a relation (a raw table over some delivery days, an output table, a volume
summary) becomes aggregates of ONE query over it: rows breaking the rule, values present in its
column, rows its row condition keeps, a few example values when the caller wants them. Table
rules (columns present, column types, row count) come from the relation's description and its
row count. Nothing is copied into pandas, so a 730-day backfill of raw orders costs one scan.

The measures are GX's own ``SUMMARY`` result dictionaries, so ``record_measured`` stores them as
GX validation results (Data Docs, check results) exactly as a GX run on a frame would. Semantics
follow GX's pandas engine, which the parity tests compare against: nulls break only the not-null
rule, a pair rule ignores rows missing either value, a uniqueness rule skips all-null keys, a row
condition restricts the rows a rule counts, and regular expressions search with Python's
meaning of ``\\s`` (see :func:`_re2`).
"""

from __future__ import annotations

from typing import Any

import duckdb

from data_quality.rules import BLANK_PATTERN, Rule
from data_quality.validation import EngineError, Measured
from ingest.row_rules import hashes_repeat_sql, sql_literal

TABLE_KINDS = ("expect_table_columns_to_match_set", "expect_table_row_count_to_be_between")
UNIQUE_KINDS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
PAIR_KIND = "expect_column_pair_values_a_to_be_greater_than_b"
TYPE_KIND = "expect_column_values_to_be_of_type"
NOT_NULL_KIND = "expect_column_values_to_not_be_null"

PYTHON_SPACE = r"\t-\r\x1c-\x20\x{85}\pZ"
"""The characters Python's ``\\s`` matches in a str (``str.isspace``), as an RE2 class body:
DuckDB's RE2 ``\\s`` is ASCII only, and an ideographic space (U+3000) in a Chinese delivery is
as blank as a space."""

_OPERATORS = {"==": "is not distinct from", "!=": "is distinct from", "IN": "in"}
_OPERATORS |= {"NOT_IN": "not in", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
"""GX row-condition operators in SQL; equality as pandas compares a missing value (``!=`` keeps
it, ``==`` drops it)."""


def quote(column: str) -> str:
    """``column`` as a quoted SQL identifier."""
    return '"' + column.replace('"', '""') + '"'


def literal(value: object) -> str:
    """``value`` (a rule's bound or set member) as a SQL literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "(" + (", ".join(literal(v) for v in value) or "null") + ")"
    return sql_literal(str(value))


def _re2(pattern: str) -> str:
    """A Python regular expression of a rule in DuckDB's RE2 dialect: ``\\s`` as Python means
    it, inside a character class or outside one. Our patterns use no other escape that differs."""
    out, i, class_start = [], 0, None
    while i < len(pattern):
        token = pattern[i : i + 2] if pattern[i] == "\\" else pattern[i]
        i += len(token)
        if token == r"\s":
            token = PYTHON_SPACE if class_start is not None else f"[{PYTHON_SPACE}]"
        elif token == "[" and class_start is None:
            class_start = i + (pattern[i : i + 1] == "^")
        elif token == "]" and class_start is not None and i - 1 > class_start:
            class_start = None  # a "]" first in its class is a member, not the end
        out.append(token)
    return "".join(out)


def condition_sql(condition: dict[str, Any] | None) -> str:
    """A GX row condition (its serialised form) as a SQL predicate that is never null."""
    if not condition:
        return "true"
    kind = condition["type"]
    if kind in ("and", "or"):
        parts = [condition_sql(c) for c in condition["conditions"]]
        return "(" + f" {kind} ".join(parts) + ")"
    column = quote(condition["column"]["name"])
    if kind == "nullity":
        return f"({column} is {'' if condition['is_null'] else 'not '}null)"
    if kind == "comparison":
        operator = _OPERATORS[str(condition["operator"])]
        return f"coalesce({column} {operator} {literal(condition['parameter'])}, false)"
    raise EngineError(f"row condition {condition!r}: no SQL for it")


def _broken(kind: str, kwargs: dict[str, Any]) -> str | None:
    """A predicate true for a row that breaks a column map expectation, None for the others.
    Nulls break only the not-null rule, as in GX (other column rules skip missing values)."""
    column = quote(kwargs.get("column") or "")
    present = f"{column} is not null"
    if kind == NOT_NULL_KIND:
        return f"{column} is null"
    if kind == "expect_column_values_to_be_between":
        bounds = [
            f"{column} {op} {literal(kwargs[name])}"
            for name, op in (("min_value", "<"), ("max_value", ">"))
            if kwargs.get(name) is not None
        ]
        return f"{present} and ({' or '.join(bounds) or 'false'})"
    if kind == "expect_column_values_to_be_in_set":
        return f"{present} and {column} not in {literal(kwargs['value_set'])}"
    if kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        matches = f"regexp_matches({column}::varchar, {literal(_re2(kwargs['regex']))})"
        if kwargs["regex"] == BLANK_PATTERN:
            # A value starting with printable ASCII (no space) is not blank; the regular
            # expression, the costly part of the raw checks, looks at the other values only
            # (a `case`: DuckDB evaluates both sides of an `and` on every row).
            matches = (
                f"case when unicode({column}::varchar) between 33 and 126 then false "
                f"else {matches} end"
            )
        return f"{present} and {'not ' if kind.endswith('to_match_regex') else ''}{matches}"
    if kind == PAIR_KIND:
        a, b = quote(kwargs["column_A"]), quote(kwargs["column_B"])
        return f"not ({a} {'>=' if kwargs.get('or_equal') else '>'} {b})"
    return None


def _ignored(kwargs: dict[str, Any]) -> str:
    """The rows a pair rule skips, by its ``ignore_row_if``."""
    a, b = quote(kwargs["column_A"]), quote(kwargs["column_B"])
    joiner = {"both_values_are_missing": "and", "either_value_is_missing": "or"}.get(
        kwargs.get("ignore_row_if") or "both_values_are_missing"
    )
    if joiner is None:
        raise EngineError(f"ignore_row_if={kwargs['ignore_row_if']}: no SQL for it")
    return f"({a} is null {joiner} {b} is null)"


def _duplicates(columns: list[str], relation: str, examples: int) -> str:
    """A scalar query of the rows of ``relation`` sharing their key with another row, and a
    few of those keys (rows whose key is all null are skipped, as in GX)."""
    quoted = [quote(c) for c in columns]
    key = " || ', ' || ".join(f"coalesce({c}::varchar, 'null')" for c in quoted)
    shown = f"min({key}, {examples})" if examples else "[]::varchar[]"
    return f"""select {{'u': coalesce(sum(n), 0), 'e': {shown}}}
        from (
            select {", ".join(quoted)}, count(*) as n from ({relation})
            where not ({" and ".join(f"{c} is null" for c in quoted)})
            group by all having count(*) > 1
        )"""


def _key_columns(rule: Rule) -> list[str] | None:
    """The columns of a uniqueness rule measured by :func:`_duplicates`, None for other rules."""
    kind = rule.expectation.expectation_type
    kwargs = rule.expectation.configuration.kwargs
    if kind not in UNIQUE_KINDS or kwargs.get("row_condition"):
        return None
    return kwargs.get("column_list") or [kwargs["column"]]


def _keys_may_repeat(con: duckdb.DuckDBPyConnection, columns: list[str], relation: str) -> bool:
    """Whether a key of ``columns`` may repeat in ``relation``: nearly always not, which a pass
    over the keys' hashes shows for less than grouping by the values (see
    :func:`_duplicates`), needed only otherwise."""
    quoted = [quote(c) for c in columns]
    keyed = f"({relation}) where not ({' and '.join(f'{c} is null' for c in quoted)})"
    try:
        [(repeats,)] = con.execute(hashes_repeat_sql(", ".join(quoted), keyed)).fetchall()
    except duckdb.CatalogException:
        raise
    except duckdb.Error:
        return True  # the rules' query then names the rule DuckDB cannot evaluate
    return repeats


def _aggregates(
    number: int,
    rule: Rule,
    relation: str,
    examples: int,
    keys_relation: str | None = None,
    keys_repeat: bool = True,
) -> list[str]:
    """The select items measuring rule ``number`` over ``relation``: ``u<n>`` rows breaking it,
    ``r<n>`` rows its row condition keeps, ``v<n>`` values present in its column, ``m<n>`` rows
    a pair rule skips, ``e<n>`` example values; ``d<n>`` holds ``u`` and ``e`` of a uniqueness
    rule, measured over ``keys_relation`` when given (see :func:`measure`), or none when
    ``keys_repeat`` is false (no key repeats)."""
    kind = rule.expectation.expectation_type
    kwargs = rule.expectation.configuration.kwargs
    if kind in TABLE_KINDS or kind == TYPE_KIND:
        return []
    if kwargs.get("mostly", 1) != 1:
        raise EngineError(f"{rule.name}: no SQL measure for mostly={kwargs['mostly']}")
    columns = _key_columns(rule)
    if columns is not None:
        if not keys_repeat:
            return [f"{{'u': 0, 'e': []::varchar[]}} as d{number}"]
        return [f"({_duplicates(columns, keys_relation or relation, examples)}) as d{number}"]
    broken = _broken(kind, kwargs)
    if broken is None:
        raise EngineError(f"{rule.name}: no SQL measure for {kind}")
    kept = condition_sql(kwargs.get("row_condition"))
    items = [f"count(*) filter (where {kept}) as r{number}"]
    if kind == PAIR_KIND:
        ignored = _ignored(kwargs)
        items += [
            f"count(*) filter (where {kept} and not {ignored} and {broken}) as u{number}",
            f"count(*) filter (where {kept} and {ignored}) as m{number}",
        ]
        return items
    items.append(f"count(*) filter (where {kept} and {broken}) as u{number}")
    if kind != NOT_NULL_KIND:
        column = quote(kwargs["column"])
        items.append(f"count({column}) filter (where {kept}) as v{number}")
        if examples:
            items.append(
                f"min({column}::varchar, {examples}) filter (where {kept} and {broken}) "
                f"as e{number}"
            )
    return items


def map_result(
    rows: int, unexpected: int, nonnull: int | None, examples: list | None = None
) -> dict[str, Any]:
    """GX's ``SUMMARY`` result of a column map expectation, from the counts (``nonnull`` None
    for the not-null rule, which counts every row)."""
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


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """The columns of the query ``relation`` and their DuckDB types; raises
    ``duckdb.CatalogException`` when a table it reads does not exist."""
    described = con.execute(f"select column_name, column_type from (describe {relation})")
    return dict(described.fetchall())


def _same_type(declared: str, observed: str) -> bool:
    return declared.replace(" ", "").upper() == observed.replace(" ", "").upper()


def _query(con: duckdb.DuckDBPyConnection, dataset: str, relation: str, items: list[str]) -> dict:
    """One row of aggregates over ``relation`` by name. When DuckDB cannot evaluate it, each
    item is tried alone so that the error names the rules at fault."""
    sql = f"select count(*) as row_count, {', '.join(items) or 'null as nothing'} from ({relation})"
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))
    except duckdb.CatalogException:
        raise
    except duckdb.Error as exc:
        raise EngineError(f"{dataset}: DuckDB could not evaluate its rules: {exc}") from exc


def measure(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    relation: str,
    rules: list[Rule],
    examples: int = 0,
    keys_relation: str | None = None,
) -> tuple[int, dict[str, str], list[Measured]]:
    """The rows of the query ``relation``, its columns and types, and the measure of each of
    ``rules`` on it, in one pass (plus one per uniqueness rule). ``examples`` example values are
    kept per broken column rule (none for tables holding personal data). ``keys_relation``: the
    rows of ``relation`` the uniqueness rules look at, when not all of them. Raises
    ``duckdb.CatalogException`` when a table is missing and :class:`EngineError` naming the
    rules DuckDB cannot evaluate."""
    columns = relation_columns(con, relation)
    keys = {n: _key_columns(rule) for n, rule in enumerate(rules)}
    repeat = {
        n: _keys_may_repeat(con, key, keys_relation or relation)
        for n, key in keys.items()
        if key is not None
    }
    items = {
        n: _aggregates(n, rule, relation, examples, keys_relation, repeat.get(n, True))
        for n, rule in enumerate(rules)
    }
    try:
        values = _query(con, dataset, relation, [i for group in items.values() for i in group])
    except EngineError:
        errors = []
        for number, group in items.items():
            try:
                _query(con, dataset, relation, group)
            except EngineError as exc:
                errors.append(f"{rules[number].name}: {exc.__cause__}")
        if not errors:
            raise
        raise EngineError(f"{dataset}: DuckDB could not evaluate " + "; ".join(errors)) from None
    rows = values["row_count"]
    measured = [_measured(n, rule, rows, columns, values) for n, rule in enumerate(rules)]
    return rows, columns, measured


def _measured(
    number: int, rule: Rule, rows: int, columns: dict[str, str], values: dict[str, Any]
) -> Measured:
    """Rule ``number``'s measure from the query's ``values``."""
    kind = rule.expectation.expectation_type
    kwargs = rule.expectation.configuration.kwargs
    if kind == "expect_table_columns_to_match_set":
        missing = [c for c in kwargs["column_set"] if c not in columns]
        result = {
            "observed_value": sorted(set(columns) & set(kwargs["column_set"])),
            "details": {"mismatched": {"missing": missing}} if missing else {},
        }
        return Measured(rule, not missing, result)
    if kind == "expect_table_row_count_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        held = (low is None or rows >= low) and (high is None or rows <= high)
        return Measured(rule, held, {"observed_value": rows})
    if kind == TYPE_KIND:
        observed = columns[kwargs["column"]]
        return Measured(rule, _same_type(kwargs["type_"], observed), {"observed_value": observed})
    if f"d{number}" in values:
        unexpected, shown = values[f"d{number}"]["u"], values[f"d{number}"]["e"]
        return Measured(rule, unexpected == 0, map_result(rows, int(unexpected), None, shown))
    kept, unexpected = values[f"r{number}"], int(values[f"u{number}"])
    if kind == PAIR_KIND:
        missing = values[f"m{number}"]
        result = map_result(kept, unexpected, kept - missing)
    else:
        result = map_result(kept, unexpected, values.get(f"v{number}"), values.get(f"e{number}"))
    return Measured(rule, unexpected == 0, result)
