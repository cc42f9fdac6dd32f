"""Row rules of the contract as DuckDB SQL: type each column and give every broken row a reason.

Doing this in DuckDB rather than row by row in Python keeps a two-year backfill fast; the rules
themselves come from the contract, so adding a column there is enough.
"""

from __future__ import annotations

from orchestration.contract import DUCKDB_TYPES, Column, Entity


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed(column: Column) -> str:
    value = f"nullif(trim({_quote(column.name)}), '')"
    if column.allowed:
        # Allowed values compare case-insensitively and are stored in their contract spelling.
        return f"lower(trim({_quote(column.name)}))"
    if column.type == "string":
        return f"nullif({_quote(column.name)}, '')"
    if column.type == "integer":
        # DuckDB would round '9.5' to 10; an integer column takes whole numbers only.
        whole = f"regexp_full_match({value}, '[+-]?[0-9]+')"
        return f"case when {whole} then try_cast({value} as bigint) end"
    return f"try_cast({value} as {DUCKDB_TYPES[column.type]})"


def _shown(column: Column) -> str:
    """The offending value as it appears in a reason, cut short so reasons stay readable."""
    return f"'''' || left({_quote(column.name)}, 40) || ''''"


def _checks(column: Column) -> list[str]:
    name = _quote(column.name)
    present = f"nullif(trim({name}), '') is not null"
    checks = []
    if column.required:
        checks.append(
            f"case when not ({present}) then {_literal(column.name + ': required value missing')}"
            " end"
        )
    if column.type != "string":
        checks.append(
            f"case when {present} and {_typed(column)} is null then "
            f"{_literal(column.name + ': ')} || {_shown(column)} || "
            f"{_literal(' is not a valid ' + column.type)} end"
        )
    if column.allowed:
        allowed = ", ".join(_literal(v) for v in column.allowed)
        checks.append(
            f"case when {present} and lower(trim({name})) not in ({allowed}) then "
            f"{_literal(column.name + ': ')} || {_shown(column)} || "
            f"{_literal(' is not one of ' + ', '.join(column.allowed))} end"
        )
    return checks


def validation_sql(entity: Entity, relation: str, passthrough: tuple[str, ...] = ()) -> str:
    """A query over ``relation`` (contract columns as text, ``_row_number`` and the
    ``passthrough`` columns) that returns the typed contract columns, ``_row_number``, the
    passthrough columns, ``_reason`` ('' when the row keeps every rule) and ``_record`` (the
    row as delivered, as JSON, for the quarantine)."""
    typed = ",\n    ".join(f"{_typed(c)} as {_quote(c.name)}" for c in entity.columns)
    checks = ",\n        ".join(check for c in entity.columns for check in _checks(c))
    record = ", ".join(f"{_quote(c.name)} := {_quote(c.name)}" for c in entity.columns)
    return f"""
with checked as (
    select *, concat_ws('; ',
        {checks}
    ) as _reason
    from {relation}
)
select
    {typed},
    _row_number,{"".join(f" {_quote(c)}," for c in passthrough)}
    _reason,
    case when _reason <> '' then to_json(struct_pack({record})) end as _record
from checked
"""
