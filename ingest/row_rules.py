"""Row rules of the contract as DuckDB SQL: type each column and give every broken row a reason.

Doing this in DuckDB rather than row by row in Python keeps a two-year backfill fast; the rules
themselves come from the contract, so adding a column there is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from ingest.contract import DUCKDB_TYPES, Column, Entity

TYPE_CHANGE_MIN_VALUES = 2
"""A column changed type when not one of at least this many values in a file is of its type;
a single bad value is a bad row (quarantined), not a changed export."""
_ZONE = r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?|\s[A-Za-z][A-Za-z0-9_/+-]*)"
"""A time zone after a time: `Z`, an offset (`+08:00`, `-0500`) or a name (` UTC`,
` America/New_York`), converted to shop time; DuckDB's plain cast would drop it."""
_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    rf"([ Tt][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\.[0-9]+)?)?\s*{_ZONE}?)?"
)
"""What a timestamp may look like. Minutes and seconds have two digits, so a value cut inside
its last field (`22:0`) is not taken for `22:00`, as DuckDB's cast would."""
_PLAIN_TIMESTAMP = "2026-12-01 23:59:00"
"""A timestamp without zone or fraction, as nearly every export writes it."""
_ZONED = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?" + _ZONE + "$"
READ_TYPED = frozenset({"decimal"})
"""Contract types DuckDB's CSV reader may type itself when a file is loaded straight into its raw
table (:func:`passing_rows_sql`): it accepts exactly the decimals the rules accept, with the
same value, and refuses the rest (the file then takes the rules' own typing). Not timestamps
(it reads `10:0:00` and `226-01-01`, and drops a zone, where the rules refuse or convert), nor
integers (it rounds `9.5`), nor dates and booleans (not needed yet: no large file has them)."""
EARLIEST_DATE = date(1900, 1, 1)
"""Dates and timestamps before this are placeholders (`0001-01-01`) or typos, not events."""
ID_WHITESPACE = " \t\r\n\u00a0\u3000\ufeff"
"""Trimmed from both ends of ids: spaces, tabs, line breaks, no-break and ideographic spaces
(Chinese input methods type U+3000), and a stray byte-order mark."""
_UNTRIMMED = (
    max(p for p in map(ord, ID_WHITESPACE) if p < 0x80) + 1,
    min(p for p in map(ord, ID_WHITESPACE) if p >= 0x80) - 1,
)
"""Code points (33..159) of none of ID_WHITESPACE: an id that starts and ends with one of them
has nothing to trim."""


@dataclass(frozen=True)
class DeliveryRules:
    """The shop-dependent limits of the row rules (from the settings)."""

    max_amount: float = 1_000_000
    max_quantity: int = 10_000
    future_tolerance_hours: float = 1
    timezone: str = "Asia/Shanghai"
    """Shop time zone: timestamps with an offset are converted to it."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    """Whether ``value`` is one of ``allowed``: comparisons joined by `or`, which DuckDB
    evaluates faster than an `in` list of five values or more (it joins those)."""
    return "(" + " or ".join(f"{value} = {sql_literal(v)}" for v in allowed) + ")"


def _cast_name(column: Column) -> str:
    return _quote("_cast_" + column.name)


def _with_casts(entity: Entity, relation: str) -> str:
    """``relation`` with the plain cast of each timestamp column (``_cast_<name>``), which
    :func:`_typed` takes for the values in the plain form: a column of its own, so that it is
    computed once for both the test and the value."""
    casts = "".join(
        f", try_cast({_quote(c.name)} as timestamp) as {_cast_name(c)}"
        for c in entity.columns
        if c.type == "timestamp"
    )
    return f"(select *{casts} from {relation})"


def _typed(column: Column, rules: DeliveryRules) -> str:
    """``column``'s typed value, or null where it has none (empty, or not of its type); a
    timestamp column needs its cast (:func:`_with_casts`)."""
    value = f"nullif(trim({_quote(column.name)}), '')"
    if column.allowed:
        # Allowed values compare case-insensitively and are stored in their contract spelling;
        # most are sent in that spelling already, and then need no trimming or lower-casing.
        name = _quote(column.name)
        return f"case when {_one_of(name, column.allowed)} then {name} else lower({value}) end"
    if column.is_id:
        # `O341 ` re-sent must replace `O341`, not add a second order. Case is kept: ids are
        # case-sensitive in many systems (Salesforce's 15-character ids), and folding it would
        # merge different records.
        name = _quote(column.name)
        # Trimming a set of characters is slow in DuckDB; most ids have nothing to trim, which
        # the code points of their first and last characters tell (comparing the characters
        # with each of ID_WHITESPACE takes three times longer, a regular expression more).
        low, high = _UNTRIMMED
        ends = " and ".join(
            f"unicode({end}) between {low} and {high}" for end in (name, f"{name}[-1]")
        )
        trimmed = f"nullif(trim({name}, {sql_literal(ID_WHITESPACE)}), '')"
        return f"case when {ends} then {name} else {trimmed} end"
    if column.type == "string":
        return f"nullif({_quote(column.name)}, '')"
    if column.type == "integer":
        # DuckDB would round '9.5' to 10; an integer column takes whole numbers only.
        whole = f"regexp_full_match({value}, '[+-]?[0-9]+')"
        return f"case when {whole} then try_cast({value} as bigint) end"
    if column.type == "timestamp":
        # DuckDB's cast to timestamp drops an offset silently ('23:59:59Z' would stay 23:59:59,
        # eight hours off in Shanghai, often another day): convert such values to shop time.
        zone = sql_literal(rules.timezone)
        local = f"try_cast(try_cast({value} as timestamptz) at time zone {zone}"
        zoned = f"regexp_matches({value}, {sql_literal(_ZONED)})"
        # Nearly every value is in the one plain form (`2026-12-01 23:59:00`), which is how
        # DuckDB writes a timestamp: a value its cast (see _with_casts) writes back as it was is
        # in that form, and needs none of the costlier tests.
        name, cast = _quote(column.name), _cast_name(column)
        plain = f"strlen({name}) = {len(_PLAIN_TIMESTAMP)} and {cast}::varchar = {name}"
        return (
            f"case when {plain} then {cast} "
            f"when not regexp_full_match({value}, {sql_literal(_TIMESTAMP)}) then null "
            f"when {zoned} then {local} as timestamp) "
            f"else try_cast({value} as timestamp) end"
        )
    return f"try_cast({value} as {DUCKDB_TYPES[column.type]})"


def _valid(column: Column, rules: DeliveryRules) -> str:
    """True when a present value is of the column's type and among its allowed values."""
    if column.allowed:
        return _one_of(f"lower(trim({_quote(column.name)}))", column.allowed)
    return f"{_typed(column, rules)} is not null"


def _shown(column: Column) -> str:
    """The offending value as it appears in a reason, cut short so reasons stay readable."""
    return f"'''' || left({_quote(column.name)}, 40) || ''''"


def _number(value: float) -> str:
    return f"{value:,g}" if abs(value) < 1e6 else f"{value:,.0f}"


@dataclass(frozen=True)
class _Check:
    """One row rule on one column: ``broken`` (SQL, true when the row breaks it) and
    ``reason`` (SQL text naming the rule and the value, only evaluated where broken)."""

    broken: str
    reason: str

    def sql(self) -> str:
        return f"case when {self.broken} then {self.reason} end"


def _about(column: Column, says: str) -> str:
    """A reason quoting the offending value of ``column``."""
    return f"{sql_literal(column.name + ': ')} || {_shown(column)} || {sql_literal(says)}"


def _range_checks(column: Column, rules: DeliveryRules, typed: str) -> list[_Check]:
    checks = []
    if column.minimum is not None:
        says = " is below the minimum " + _number(column.minimum)
        checks.append(_Check(f"{typed} < {column.minimum}", _about(column, says)))
    if column.maximum is not None:
        if isinstance(column.maximum, str):
            limit = float(getattr(rules, column.maximum))
            label = f" is above the limit {_number(limit)} ({column.maximum})"
        else:
            limit, label = column.maximum, f" is above the maximum {_number(column.maximum)}"
        checks.append(_Check(f"{typed} > {limit}", _about(column, label)))
    return checks


def _future_check(column: Column, rules: DeliveryRules, now: datetime, typed: str) -> _Check:
    now_literal = f"timestamp {sql_literal(now.isoformat(sep=' ', timespec='seconds'))}"
    if column.type == "date":
        days = int(rules.future_tolerance_hours // 24)
        latest = f"least(_partition_date + {days}, cast({now_literal} as date))"
    else:
        micros = round((24 + rules.future_tolerance_hours) * 3600 * 1_000_000)
        latest = (
            f"least(cast(_partition_date as timestamp) + to_microseconds({micros}), {now_literal})"
        )
    return _Check(
        f"{typed} > {latest}", _about(column, " is later than its delivery day (in the future)")
    )


def _typed_name(column: Column) -> str:
    """The column of the typed value in the query of :func:`validation_sql`: each value is
    typed once (typing timestamps is the costly part of the rules), then checked."""
    return _quote("_typed_" + column.name)


def _checks(
    column: Column,
    rules: DeliveryRules,
    now: datetime,
    read_typed: bool = False,
    reasons: bool = True,
) -> list[_Check]:
    """The rules of ``column``; ``read_typed``: DuckDB's CSV reader typed its values already
    (see :func:`passing_rows_sql`), so a value is present when not null and never invalid.
    Without ``reasons`` only ``broken`` counts (see :func:`passing_rows_sql`)."""
    name, typed = _quote(column.name), _typed_name(column)
    no_value, text = f"{typed} is null", f"nullif(trim({name}), '') is not null"
    # Each test looks at the text only where the typed value is missing (`and` evaluates its
    # right side only for the rows its left side keeps): nearly every value is typed.
    invalid = column.type != "string" and not read_typed
    checks = []
    if column.required and invalid and not reasons:
        # Missing or not of its type, the row breaks a rule: no typed value says both, without
        # trimming the text of every row (an `or` of tests evaluates each on every row).
        checks.append(_Check(no_value, "null"))
        invalid = False
    elif column.required:
        # An id of only whitespace (an ideographic space too) is missing, not loaded as null;
        # an allowed value is null only where its text is empty.
        missing = no_value if column.is_id or column.allowed or read_typed else f"not ({text})"
        if invalid:
            missing = f"{no_value} and not ({text})"
        checks.append(_Check(missing, sql_literal(column.name + ": required value missing")))
    if invalid:
        says = f" is not a valid {column.type}"
        checks.append(_Check(f"{no_value} and {text}", _about(column, says)))
    if column.allowed:
        # The typed value of an allowed-values column is its trimmed value in lower case.
        checks.append(
            _Check(
                f"not {_one_of(typed, column.allowed)}",
                _about(column, " is not one of " + ", ".join(column.allowed)),
            )
        )
    checks += _range_checks(column, rules, typed)
    if column.type in ("date", "timestamp"):
        earliest = EARLIEST_DATE.isoformat()
        checks.append(
            _Check(
                f"{typed} < date {sql_literal(earliest)}",
                _about(column, f" is before {earliest} (the earliest date accepted)"),
            )
        )
    if column.not_after_delivery:
        checks.append(_future_check(column, rules, now, typed))
    return checks


def _key_rules(entity: Entity) -> str:
    """The reason a row fails for its key, among the rows that keep every other rule of one
    delivery day: every row of a key delivered with different values (which one is right
    cannot be known), or a later exact copy of a row (the first copy loads)."""
    columns = ", ".join(entity.key)
    conflict = " rows with different values this day (conflicting rows: send one row per key)"
    return f"""case
        when min(_content) over same_key <> max(_content) over same_key then
            {sql_literal(columns + ": '")} || array_to_string(_key, ', ') ||
            {sql_literal("' delivered in ")} || count(*) over same_key || {sql_literal(conflict)}
        when row_number() over same_row > 1 then
            {sql_literal("exact duplicate of '")} ||
            first_value(_file || ', row ' || _row_number) over same_row || ''''
        else '' end"""


def hashes_repeat_sql(columns: str, relation: str) -> str:
    """A query of whether two rows of ``relation`` share one hash of ``columns`` (SQL
    expressions, comma-separated). When none do, no combination of their values repeats; when
    some do, it usually does (two different values share a 64-bit hash about once in 10^5 at
    20M rows), and the caller compares the values themselves.

    Sorting the hashes and comparing neighbours costs less than grouping by them, whose hash
    table of one entry per row outgrows the caches (18.4M keys of one day, two threads:
    2.0 against 2.5-3.3 CPU-s)."""
    return f"""select coalesce(bool_or(_hash = _previous), false) from (
        select _hash, lag(_hash) over (order by _hash) as _previous
        from (select hash({columns}) as _hash from {relation}))"""


def keys_repeat(con: duckdb.DuckDBPyConnection, entity: Entity, validated: str) -> bool:
    """Whether a key of ``entity`` may occur twice on one delivery day among the rows that pass
    in ``validated`` (the output of :func:`validation_sql` without the key rules). Usually none
    does, and then the key rules (windows over every row, comparing the keys' text) need not
    run."""
    key = ", ".join(["_partition_date", *(_quote(k) for k in entity.key)])
    passing = f"(select * from {validated} where _reason = '')"
    [(repeats,)] = con.execute(hashes_repeat_sql(key, passing)).fetchall()
    return repeats


def validation_sql(
    entity: Entity,
    relation: str,
    rules: DeliveryRules,
    now: datetime,
    passthrough: tuple[str, ...] = (),
    keys_repeat: bool = True,
) -> str:
    """A query over ``relation`` (contract columns as text, ``_row_number``,
    ``_partition_date``, ``_file``, ``_note`` and the ``passthrough`` columns) that returns the
    typed contract columns, ``_row_number``, ``_partition_date``, the passthrough columns,
    ``_reason`` ('' when the row keeps every rule; a ``_note`` always makes the row fail, first
    in its reason) and ``_record`` (the row as delivered, as JSON, for the quarantine).

    Keys are unique per delivery day among the rows that pass (see :func:`_key_rules`), so
    ``relation`` must hold whole delivery days: a key repeated across two calls goes unseen.
    ``keys_repeat`` False (no key occurs twice on a day, see :func:`keys_repeat`) leaves the key
    rules out, as they would find nothing.

    ``now`` is the shop-local time of the load: nothing that has happened is later."""
    typed = ",\n    ".join(f"{_typed(c, rules)} as {_typed_name(c)}" for c in entity.columns)
    checks = ",\n        ".join(
        check.sql() for c in entity.columns for check in _checks(c, rules, now)
    )
    record = ", ".join(f"{_quote(c.name)} := {_quote(c.name)}" for c in entity.columns)
    out = ", ".join(f"{_typed_name(c)} as {_quote(c.name)}" for c in entity.columns)
    reasons, keyed = "_reason", "checked"
    if keys_repeat:
        content = ", ".join(_typed_name(c) for c in entity.columns)
        key = ", ".join(f"cast({_typed_name(entity.column(k))} as varchar)" for k in entity.key)
        reasons = f"case when _reason <> '' then _reason else {_key_rules(entity)} end"
        keyed = f"""(select *, hash({content}) as _content, [{key}] as _key from checked)
    window
        same_key as (partition by _reason = '', _partition_date, _key),
        same_row as (
            partition by _reason = '', _partition_date, _key, _content
            order by _file, _row_number
        )"""
    return f"""
with typed as (
    select *,
    {typed}
    from {_with_casts(entity, relation)}
),
checked as (
    select *, concat_ws('; ',
        _note,
        {checks}
    ) as _reason
    from typed
),
keyed as (
    select *, {reasons} as _all_reasons
    from {keyed}
)
select
    {out},
    _row_number, _partition_date,{"".join(f" {_quote(c)}," for c in passthrough)}
    _all_reasons as _reason,
    case when _all_reasons <> '' then to_json(struct_pack({record})) end as _record
from keyed
"""


def passing_rows_sql(entity: Entity, relation: str, rules: DeliveryRules, now: datetime) -> str:
    """A query over ``relation`` (contract columns as text, but those of a READ_TYPED type
    already typed by DuckDB's reader, and ``_row_number``, ``_partition_date``, ``_file``) that
    returns the typed contract columns and those three of the rows that keep every row rule.

    It checks what :func:`validation_sql` checks but the key rules (see :func:`keys_repeat`),
    without building reasons: where a file has no broken row, which is nearly always, its rows
    go to the raw table in one pass. Whether any row was left out is for the caller to see."""
    read_typed = {c.name: c.type in READ_TYPED for c in entity.columns}
    typed = ",\n    ".join(
        f"{_quote(c.name) if read_typed[c.name] else _typed(c, rules)} as {_typed_name(c)}"
        for c in entity.columns
    )
    broken = "\n    or ".join(
        f"({check.broken})"
        for c in entity.columns
        for check in _checks(c, rules, now, read_typed[c.name], reasons=False)
    )
    out = ", ".join(f"{_typed_name(c)} as {_quote(c.name)}" for c in entity.columns)
    return f"""
select {out}, _row_number, _partition_date, _file
from (select *, {typed} from {_with_casts(entity, relation)})
where not coalesce({broken or "false"}, false)
"""


def changed_type_columns(
    con: duckdb.DuckDBPyConnection, entity: Entity, relation: str, rules: DeliveryRules
) -> dict[str, list[str]]:
    """Per file (``_file`` of ``relation``), the columns of which not one value is of the
    column's type or among its allowed values, over at least TYPE_CHANGE_MIN_VALUES values:
    the export changed the column, rather than a row being wrong."""
    checked = [c for c in entity.columns if c.type != "string" or c.allowed]
    if not checked:
        return {}
    counts = ",\n    ".join(
        f"count({_quote(c.name)}) filter (where nullif(trim({_quote(c.name)}), '') is not null),"
        f" count({_quote(c.name)}) filter (where {_valid(c, rules)})"
        for c in checked
    )
    rows = con.execute(
        f"select _file, {counts} from {_with_casts(entity, relation)} group by _file"
    ).fetchall()
    changed: dict[str, list[str]] = {}
    for file, *figures in rows:
        for i, column in enumerate(checked):
            present, valid = figures[2 * i], figures[2 * i + 1]
            if present >= TYPE_CHANGE_MIN_VALUES and valid == 0:
                expected = f"one of {', '.join(column.allowed)}" if column.allowed else column.type
                changed.setdefault(file, []).append(
                    f"{column.name} (none of {present:,} values is {expected})"
                )
    return changed
