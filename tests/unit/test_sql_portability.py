"""The SQL portability lint (warehouse/sql_portability.py): the dbt project holds no DuckDB-only
spelling outside macros/cross_db.sql, and each rule catches its spelling and passes the
portable one."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.settings import DBT_PROJECT_DIR
from warehouse.sql_portability import (
    JINJA_RULES,
    PENDING,
    SQL_RULES,
    blank_non_sql,
    check_project,
    check_sql,
    check_yaml,
    is_pending,
)

EXAMPLES: dict[str, tuple[str, str]] = {
    "varchar": ("select cast(a as varchar) from t", "select cast(a as string) from t"),
    "* exclude": ("select * exclude (a) from t", "select * except (a) from t"),
    "::": ("select (a is null)::integer from t", "select cast(a is null as integer) from t"),
    "list literal or index": ("select coalesce(a, []) from t", "select coalesce(a, b) from t"),
    "list_ function": ("select list_sort(a) from t", "select sort_list from t"),
    "unnest": ("select unnest(a) as b from t", "select explode_me from t"),
    "range": ("select * from range(3)", "select * from ranges"),
    "generate_series": ("select generate_series(1, 3)", "select series from t"),
    "string_split": ("select string_split(a, ';') from t", "select split_part(a, ';', 1) from t"),
    "regexp_replace": ("select regexp_replace(a, 'x', 'y', 'g') from t", "select a from t"),
    "regexp_matches": ("select regexp_matches(a, 'x') from t", "select a like '%x%' from t"),
    "ltrim/rtrim with characters": (
        "select ltrim(lower(a), '@') from t",
        "select ltrim(a), trim(leading '@' from a) from t",
    ),
    "strpos": ("select strpos(a, ':') from t", "select instr(a, ':') from t"),
    "arg_max/arg_min": ("select arg_max(a, b) from t", "select max_by(a, b) from t"),
    "max/min of n": ("select max(a, 2) from t", "select max(coalesce(a, 2)), min(a) from t"),
    "string_agg": ("select string_agg(a, ',') from t", "select count(a) from t"),
    "epoch": ("select epoch(b - a) from t", "select a from t"),
    "date_diff": ("select date_diff('second', a, b) from t", "select b - a from t"),
    "to_days/to_months": ("select a + to_days(3) from t", "select a + interval 3 day from t"),
    "union by name": (
        "select a from t union all by name select a from u",
        "select a from t union all select a from u",
    ),
    "asof join": ("select * from t asof join u on u.d <= t.d", "select * from t join u using (d)"),
    "integer division //": ("select a // 2 from t", "select a / 2 from t"),
    "rowid": ("select rowid from t", "select row_id from t"),
    "incremental_strategy": (
        "{{ config(materialized='incremental', incremental_strategy='delete+insert') }}",
        "{{ incremental_by_key('order_id') }}",
    ),
}
"""Per rule: a line it must catch and its portable spelling, which it must pass."""


def _rule_names(sql: str) -> set[str]:
    return {finding.rule.name for finding in check_sql(sql, Path("model.sql"))}


def test_the_dbt_project_has_no_duckdb_only_spelling_outside_the_dispatch_macros():
    failures = [str(f) for f in check_project(DBT_PROJECT_DIR) if not is_pending(f)]
    assert failures == [], "\n".join(failures)


def test_every_pending_spelling_is_still_there():
    found: dict[Path, set[str]] = {}
    for finding in check_project(DBT_PROJECT_DIR):
        found.setdefault(finding.path, set()).add(finding.rule.name)
    for path, rule_names in PENDING.items():
        assert rule_names <= found.get(path, set()), f"{path}: remove the fixed from PENDING"


def test_every_rule_has_an_example():
    assert sorted(EXAMPLES) == sorted(rule.name for rule in (*SQL_RULES, *JINJA_RULES))


@pytest.mark.parametrize("rule_name", sorted(EXAMPLES))
def test_a_rule_catches_its_spelling_and_passes_the_portable_one(rule_name):
    duckdb_only, portable = EXAMPLES[rule_name]
    assert rule_name in _rule_names(duckdb_only)
    assert _rule_names(portable) == set()


def test_a_finding_names_the_file_the_line_and_the_replacement():
    sql = "select\n    a,\n    strpos(a, ':') as colon\nfrom t\n"
    (finding,) = check_sql(sql, Path("models/marts/x.sql"))
    assert str(finding).startswith("models/marts/x.sql:3: `strpos` is DuckDB-only; write instr(")


def test_comments_string_literals_and_jinja_are_not_sql():
    sql = (
        "-- unnest(a) in a comment\n"
        "/* varchar */ select '[0-9]' as pattern,\n"
        "{{ list_of(['a', 'b']) }} as items, {# max(a, 2) #} 'it''s [x]' as quoted\n"
    )
    assert _rule_names(sql) == set()
    assert blank_non_sql(sql).count("\n") == sql.count("\n")


def test_contract_types_must_be_portable():
    yaml = "columns:\n  - name: a\n    data_type: varchar\n  - name: b\n    data_type: string\n"
    assert [(f.line, f.rule.name) for f in check_yaml(yaml, Path("x.yml"))] == [(3, "varchar")]
