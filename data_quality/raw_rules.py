"""Rules for the raw tables, made from the data contract by one factory.

Every contract column gets its rules from what the contract says about it (type, required,
allowed values, key, PII does not matter: no value is ever reported). The few things the
contract cannot say are declared below, by table and column: ranges of counts and scores,
formats of e-mail and phone columns (found by name), planned dates that may lie in the future,
and pairs of columns whose order is a soft rule.
"""

from __future__ import annotations

from datetime import date, datetime

from data_quality.gx import Col, gxe
from data_quality.rules import BLANK_PATTERN, CONTRACT, PLAUSIBILITY, Rule
from ingest.contract import DUCKDB_TYPES, LINEAGE_COLUMNS, Column, Entity, Source

DELIVERED_BY = "_delivered_by"
"""Derived column: the end of the delivery day, or now if earlier. Nothing delivered that day
can have happened after it."""

INTEGER_RANGES: dict[tuple[str, str], tuple[int | None, int | None]] = {
    ("orders__order_lines", "line_number"): (1, None),
    ("orders__order_lines", "quantity"): (1, None),
    ("service__surveys", "score"): (0, 10),
    ("social__posts", "rating"): (1, 5),
    ("social__posts", "likes"): (0, None),
    ("crm__customers", "revisit_interval_days"): (1, None),
}
"""Integer columns with a range (min, max; None = open). Decimals are amounts and prices in the
shop's currency: all of them must be at least 0, without listing them."""

CONDITIONAL_RANGES = {
    "service__surveys": [("score", 1, 5, Col("survey_type") == "csat")],
}
"""Ranges that hold for some rows: CSAT answers are 1-5 (NPS 0-10 is the plain range)."""

PLANNED_DATES = {("crm__customers", "next_revisit_date")}
"""Date columns that plan the future, exempt from "not after the delivery day"."""

EVENT_ORDER: dict[str, list[tuple[str, str]]] = {
    "service__tickets": [("first_response_at", "opened_at"), ("resolved_at", "opened_at")],
    "orders__orders": [("total_amount", "refund_amount")],
}
"""(later or larger, earlier or smaller) column pairs: soft rules, so they only warn."""

EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
PHONE_PATTERN = r"^\s*\+?[0-9][0-9 ()-]{5,20}[0-9]\s*$"
"""Loose formats of values as typed: surrounding spaces and any case are fine (the identity
matching normalises them); a phone may carry +86, spaces, dashes and brackets."""


def _table(source: Source, entity: Entity) -> str:
    return source.raw_table(entity).removeprefix("raw.")


def _format_pattern(column: str) -> str | None:
    if column == "email" or column.endswith("_email"):
        return EMAIL_PATTERN
    if column == "phone" or column.endswith("_phone"):
        return PHONE_PATTERN
    return None


def _column_rules(table: str, column: Column, required: bool) -> list[Rule]:
    name = column.name
    rules = []
    if required:
        rules.append(Rule(gxe.ExpectColumnValuesToNotBeNull(column=name), CONTRACT))
    if column.allowed:
        # A blank is no value, like null: the blank rule below reports it, without blocking.
        rules.append(
            Rule(
                gxe.ExpectColumnValuesToBeInSet(column=name, value_set=[*column.allowed, ""]),
                CONTRACT,
                f"values_to_be_in_set({name})",
            )
        )
    if column.type == "string":
        rules.append(
            Rule(
                gxe.ExpectColumnValuesToNotMatchRegex(column=name, regex=BLANK_PATTERN),
                PLAUSIBILITY,
                f"blank stored as null({name})",
            )
        )
    low, high = INTEGER_RANGES.get((table, name), (None, None))
    if column.type == "decimal":
        low = 0
    if low is not None or high is not None:
        rules.append(
            Rule(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high),
                CONTRACT,
            )
        )
    if column.type in ("date", "timestamp") and (table, name) not in PLANNED_DATES:
        rules.append(
            Rule(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=DELIVERED_BY,
                    column_B=name,
                    or_equal=False,
                    ignore_row_if="either_value_is_missing",
                ),
                CONTRACT,
                f"not after the delivery day({name})",
            )
        )
    pattern = _format_pattern(name)
    if pattern is not None and column.type == "string":
        rules.append(
            Rule(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=pattern), PLAUSIBILITY)
        )
    return rules


def raw_rules(source: Source, entity: Entity, present: set[str]) -> list[Rule]:
    """The rules of ``source``'s ``entity`` for a frame holding the columns ``present``.

    Rules on a column missing from the frame are left out: the column-set rule reports the
    missing column once, as a contract failure, instead of an engine error per rule."""
    table = _table(source, entity)
    rules = [
        Rule(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[*entity.column_names, *LINEAGE_COLUMNS], exact_match=False
            ),
            CONTRACT,
            "contract columns present",
        )
    ]
    key = [*entity.key, "_partition_date"]
    if set(key) <= present:
        rules.append(
            Rule(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=key),
                CONTRACT,
                f"key unique within a delivery({', '.join(entity.key)})",
            )
        )
    types = {c.name: DUCKDB_TYPES[c.type] for c in entity.columns} | LINEAGE_COLUMNS
    rules += [
        Rule(gxe.ExpectColumnValuesToBeOfType(column=name, type_=type_.upper()), CONTRACT)
        for name, type_ in types.items()
        if name in present
    ]
    for column in entity.columns:
        if column.name in present:
            rules += _column_rules(table, column, column.required or column.name in entity.key)
    for name, low, high, condition in CONDITIONAL_RANGES.get(table, []):
        if name in present:
            rules.append(
                Rule(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=name, min_value=low, max_value=high, row_condition=condition
                    ),
                    CONTRACT,
                )
            )
    for larger, smaller in EVENT_ORDER.get(table, []):
        if {larger, smaller} <= present:
            rules.append(
                Rule(
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                        column_A=larger,
                        column_B=smaller,
                        or_equal=True,
                        ignore_row_if="either_value_is_missing",
                    ),
                    PLAUSIBILITY,
                    f"{larger} not before or below {smaller}",
                )
            )
    return rules


def raw_relation(source: Source, entity: Entity, start: date, end: date, now: datetime) -> str:
    """The query of the rows of ``entity``'s raw table delivered ``start``..``end``, with the
    derived :data:`DELIVERED_BY` column; ``now`` is the shop's local time."""
    now_literal = now.replace(tzinfo=None).isoformat(sep=" ")
    return (
        f"select *, least(_partition_date + interval 1 day, timestamp '{now_literal}') "
        f"as {DELIVERED_BY} from {source.raw_table(entity)} "
        f"where _partition_date between date '{start.isoformat()}' and date '{end.isoformat()}'"
    )
