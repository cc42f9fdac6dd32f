{#- The SQL that DuckDB and Spark spell differently, one dispatched macro per construct
    (docs/sql_portability.md). The `default__` spelling is DuckDB's, exactly as the models
    wrote it before, so DuckDB's tables do not change; `spark__` is Spark 4's. Everything else
    in the project must be spelled the same on both: `warehouse/sql_portability.py` fails the
    tests on a DuckDB-only spelling outside this file. Literal patterns and separators are
    Jinja strings, quoted here: Spark reads a backslash in a string literal as an escape, so
    its spelling doubles them. -#}

{#- A quoted SQL string literal of `text`, its quotes doubled (and on Spark its backslashes). -#}
{% macro sql_string(text) -%}
    {{ return(adapter.dispatch('sql_string', 'weixi')(text)) }}
{%- endmacro %}

{% macro default__sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__sql_string(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- Whole days from the date `start` to the date `end` (end - start). -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'weixi')(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    ({{ end }} - {{ start }})
{%- endmacro %}

{% macro spark__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}

{#- Seconds (with their fraction, a double) from the timestamp `start` to `end`. -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'weixi')(start, end)) }}
{%- endmacro %}

{% macro default__seconds_between(start, end) -%}
    epoch({{ end }} - {{ start }})
{%- endmacro %}

{% macro spark__seconds_between(start, end) -%}
    (cast(unix_micros({{ end }}) - unix_micros({{ start }}) as double) / 1000000)
{%- endmacro %}

{#- Second boundaries crossed from `start` to `end` (an integer: each side truncated to its
    second), as DuckDB's date_diff('second', ...) counts them. -#}
{% macro whole_seconds_between(start, end) -%}
    {{ return(adapter.dispatch('whole_seconds_between', 'weixi')(start, end)) }}
{%- endmacro %}

{% macro default__whole_seconds_between(start, end) -%}
    date_diff('second', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__whole_seconds_between(start, end) -%}
    (unix_seconds({{ end }}) - unix_seconds({{ start }}))
{%- endmacro %}

{#- Month boundaries crossed from `start` to `end` (dates or timestamps). -#}
{% macro months_between_starts(start, end) -%}
    {{ return(adapter.dispatch('months_between_starts', 'weixi')(start, end)) }}
{%- endmacro %}

{% macro default__months_between_starts(start, end) -%}
    date_diff('month', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__months_between_starts(start, end) -%}
    ((year({{ end }}) * 12 + month({{ end }})) - (year({{ start }}) * 12 + month({{ start }})))
{%- endmacro %}

{#- An interval of `days` days, `days` an integer expression (a literal interval needs none). -#}
{% macro days_interval(days) -%}
    {{ return(adapter.dispatch('days_interval', 'weixi')(days)) }}
{%- endmacro %}

{% macro default__days_interval(days) -%}
    to_days({{ days }})
{%- endmacro %}

{% macro spark__days_interval(days) -%}
    make_dt_interval({{ days }})
{%- endmacro %}

{#- An interval of `months` months, `months` an integer expression. -#}
{% macro months_interval(months) -%}
    {{ return(adapter.dispatch('months_interval', 'weixi')(months)) }}
{%- endmacro %}

{% macro default__months_interval(months) -%}
    to_months({{ months }})
{%- endmacro %}

{% macro spark__months_interval(months) -%}
    make_ym_interval(0, {{ months }})
{%- endmacro %}

{#- One row per element of the list `values` (a select-list expression; no row for an empty
    or null list). -#}
{% macro unnest_list(values) -%}
    {{ return(adapter.dispatch('unnest_list', 'weixi')(values)) }}
{%- endmacro %}

{% macro default__unnest_list(values) -%}
    unnest({{ values }})
{%- endmacro %}

{% macro spark__unnest_list(values) -%}
    explode({{ values }})
{%- endmacro %}

{#- One row per part of the string `text` split at the literal `separator`. -#}
{% macro unnest_split(text, separator) -%}
    {{ return(adapter.dispatch('unnest_split', 'weixi')(text, separator)) }}
{%- endmacro %}

{% macro default__unnest_split(text, separator) -%}
    unnest(string_split({{ text }}, {{ weixi.sql_string(separator) }}))
{%- endmacro %}

{#- Spark's split takes a regular expression: the separator is quoted as a literal. -#}
{% macro spark__unnest_split(text, separator) -%}
    explode(split({{ text }}, {{ weixi.sql_string('\\Q' ~ separator ~ '\\E') }}, -1))
{%- endmacro %}

{#- One row per integer from `start` to `stop` - 1 (none when stop <= start). -#}
{% macro unnest_range(start, stop) -%}
    {{ return(adapter.dispatch('unnest_range', 'weixi')(start, stop)) }}
{%- endmacro %}

{% macro default__unnest_range(start, stop) -%}
    unnest(range({{ start }}, {{ stop }}))
{%- endmacro %}

{% macro spark__unnest_range(start, stop) -%}
    explode(
        case when {{ stop }} > {{ start }} then sequence({{ start }}, {{ stop }} - 1) end
    )
{%- endmacro %}

{#- One row per date from `start` to `stop` (inclusive) in steps of the literal interval `step`
    ('1 day', '1 month'). Spark allows no expression around a generator: the cast to date is
    part of the macro. -#}
{% macro unnest_date_series(start, stop, step) -%}
    {{ return(adapter.dispatch('unnest_date_series', 'weixi')(start, stop, step)) }}
{%- endmacro %}

{% macro default__unnest_date_series(start, stop, step) -%}
    cast(unnest(generate_series({{ start }}, {{ stop }}, interval {{ step }})) as date)
{%- endmacro %}

{% macro spark__unnest_date_series(start, stop, step) -%}
    explode(sequence(cast({{ start }} as date), cast({{ stop }} as date), interval {{ step }}))
{%- endmacro %}

{#- `text` with every match of the regular expression `pattern` replaced by `replacement`
    (both literals; no group references). -#}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'weixi')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace(
        {{ text }}, {{ weixi.sql_string(pattern) }}, {{ weixi.sql_string(replacement) }}, 'g'
    )
{%- endmacro %}

{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ weixi.sql_string(pattern) }}, {{ weixi.sql_string(replacement) }})
{%- endmacro %}

{#- True when the regular expression `pattern` (a literal) matches somewhere in `text`. -#}
{% macro regexp_contains(text, pattern) -%}
    {{ return(adapter.dispatch('regexp_contains', 'weixi')(text, pattern)) }}
{%- endmacro %}

{% macro default__regexp_contains(text, pattern) -%}
    regexp_matches({{ text }}, {{ weixi.sql_string(pattern) }})
{%- endmacro %}

{% macro spark__regexp_contains(text, pattern) -%}
    regexp_like({{ text }}, {{ weixi.sql_string(pattern) }})
{%- endmacro %}

{#- The strings `value` of a group joined by the literal `separator`, in the order
    `order_by` (SQL of an order-by list). -#}
{% macro ordered_string_agg(value, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'weixi')(value, separator, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(value, separator, order_by) -%}
    string_agg({{ value }}, {{ weixi.sql_string(separator) }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(value, separator, order_by) -%}
    listagg({{ value }}, {{ weixi.sql_string(separator) }}) within group (order by {{ order_by }})
{%- endmacro %}

{#- A list of the expressions `items` (a Python list of SQL; empty: the empty list, of the
    type the context gives it). -#}
{% macro list_of(items) -%}
    {{ return(adapter.dispatch('list_of', 'weixi')(items)) }}
{%- endmacro %}

{% macro default__list_of(items) -%}
    [{{ items | join(', ') }}]
{%- endmacro %}

{% macro spark__list_of(items) -%}
    array({{ items | join(', ') }})
{%- endmacro %}

{#- Element `position` (1 = first) of the list `values`; null beyond its end. -#}
{% macro list_element(values, position) -%}
    {{ return(adapter.dispatch('list_element', 'weixi')(values, position)) }}
{%- endmacro %}

{% macro default__list_element(values, position) -%}
    {{ values }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_element(values, position) -%}
    try_element_at({{ values }}, {{ position }})
{%- endmacro %}

{#- The `count` largest distinct non-null elements of the list `values`, largest first. -#}
{% macro list_top_distinct(values, count) -%}
    {{ return(adapter.dispatch('list_top_distinct', 'weixi')(values, count)) }}
{%- endmacro %}

{% macro default__list_top_distinct(values, count) -%}
    list_slice(list_sort(list_distinct({{ values }}), 'DESC'), 1, {{ count }})
{%- endmacro %}

{% macro spark__list_top_distinct(values, count) -%}
    slice(
        sort_array(array_distinct(filter({{ values }}, element -> element is not null)), false),
        1,
        {{ count }}
    )
{%- endmacro %}

{#- The concatenation of two lists. -#}
{% macro list_concat(first, second) -%}
    {{ return(adapter.dispatch('list_concat', 'weixi')(first, second)) }}
{%- endmacro %}

{% macro default__list_concat(first, second) -%}
    list_concat({{ first }}, {{ second }})
{%- endmacro %}

{% macro spark__list_concat(first, second) -%}
    concat({{ first }}, {{ second }})
{%- endmacro %}

{#- Aggregate: the `count` largest non-null values of `value` in the group, largest first. -#}
{% macro max_n(value, count) -%}
    {{ return(adapter.dispatch('max_n', 'weixi')(value, count)) }}
{%- endmacro %}

{% macro default__max_n(value, count) -%}
    max({{ value }}, {{ count }})
{%- endmacro %}

{% macro spark__max_n(value, count) -%}
    slice(sort_array(collect_list({{ value }}), false), 1, {{ count }})
{%- endmacro %}

{#- The config of an incremental model replaced by key: `delete+insert` where the engine
    deletes from a plain table (DuckDB); a full table on Spark, whose local tables (Parquet)
    have neither DELETE nor MERGE, so `post_hook`s (deletes of stale keys) are dropped there
    too: a full table holds no stale key. A model that reads the rows it built before
    (`reads_built_rows`) reads them through `built_rows(this)`. -#}
{% macro incremental_by_key(unique_key, post_hook=[], reads_built_rows=false) -%}
    {{ return(adapter.dispatch('incremental_by_key', 'weixi')(
        unique_key, post_hook, reads_built_rows
    )) }}
{%- endmacro %}

{% macro default__incremental_by_key(unique_key, post_hook, reads_built_rows) -%}
    {%- do config(
        materialized='incremental',
        unique_key=unique_key,
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=post_hook,
    ) -%}
{%- endmacro %}

{#- Spark drops a table before it creates it again, so the rows a model reads of itself are
    first copied aside (`built_rows`), and the copy dropped once the table is built. -#}
{% macro spark__incremental_by_key(unique_key, post_hook, reads_built_rows) -%}
    {%- if reads_built_rows %}
    {%- set copy = "{{ built_rows(this) }}" %}
    {%- do config(
        materialized='table',
        pre_hook=[
            "drop table if exists " ~ copy,
            "{% if load_relation(this) is not none %}create table " ~ copy
                ~ " as select * from {{ this }}{% else %}select 1{% endif %}",
        ],
        post_hook=["drop table if exists " ~ copy],
    ) -%}
    {%- else %}
    {%- do config(materialized='table') -%}
    {%- endif %}
{%- endmacro %}

{#- The rows an incremental_by_key model (`relation`, its `this`) built before this build, for
    a model that reads them while it is built again. DuckDB's incremental build reads the table
    itself before it replaces any of its rows; on Spark, a copy taken before the table is
    dropped (spark__incremental_by_key). -#}
{% macro built_rows(relation) -%}
    {{ return(adapter.dispatch('built_rows', 'weixi')(relation)) }}
{%- endmacro %}

{% macro default__built_rows(relation) -%}
    {{ relation }}
{%- endmacro %}

{% macro spark__built_rows(relation) -%}
    {{ relation.incorporate(path={'identifier': relation.identifier ~ '__built'}) }}
{%- endmacro %}

{#- A join of each row to the latest row of `relation` (as `alias`) with the same `key` (its
    column, equal to the expression `left_key`) whose `order_column` is `comparison` ('<=' or
    '<') the expression `bound`: DuckDB's ASOF join. `join_type` is 'inner' or 'left'. On Spark
    a range join to each row's span up to the next row of its key; `order_column` must be
    unique per key (it is in every use: a running total per customer and day). -#}
{% macro asof_join(join_type, relation, alias, key, left_key, order_column, comparison, bound) -%}
    {{ return(adapter.dispatch('asof_join', 'weixi')(
        join_type, relation, alias, key, left_key, order_column, comparison, bound
    )) }}
{%- endmacro %}

{% macro default__asof_join(
    join_type, relation, alias, key, left_key, order_column, comparison, bound
) -%}
    asof {{ join_type }} join {{ relation }} as {{ alias }}
        on {{ alias }}.{{ key }} = {{ left_key }}
        and {{ alias }}.{{ order_column }} {{ comparison }} {{ bound }}
{%- endmacro %}

{% macro spark__asof_join(
    join_type, relation, alias, key, left_key, order_column, comparison, bound
) -%}
    {{ join_type }} join (
        select
            *,
            lead({{ order_column }}) over (partition by {{ key }} order by {{ order_column }})
                as asof_next_{{ order_column }}
        from {{ relation }}
    ) as {{ alias }}
        on {{ alias }}.{{ key }} = {{ left_key }}
        and {{ alias }}.{{ order_column }} {{ comparison }} {{ bound }}
        and (
            {{ alias }}.asof_next_{{ order_column }} is null
            or not {{ alias }}.asof_next_{{ order_column }} {{ comparison }} {{ bound }}
        )
{%- endmacro %}

{#- `latest_version_rows` (qualify_latest_version.sql) on DuckDB, from a raw table (it needs
    rowid). The winner of each key is found by an aggregate over its rank alone and its row
    fetched by rowid, rather than sorting whole rows by key in a window: a third less CPU where
    every column is read and keys have many versions (2.4M orders kept of 10.7M delivered
    rows: 5.7 against 8.3 CPU-s). A read of a few columns (a test of the key) costs the same
    either way, as DuckDB's window then sorts only those.

    The rank is the version and the delivery day as one 128-bit number (the version in
    microseconds, null lowest as `desc nulls last`), which the aggregate compares far faster
    than a struct of the ordering columns (at 1M customers, 15.9M delivered orders: 3.2 against
    10.0 CPU-s). The load time, file and row number never decide in a raw table: the loader
    keeps a key at most once per delivery day (`ingest.row_rules`), so no two rows of a key
    share the day. -#}
{% macro default__latest_version_rows(relation, key_columns, version_column) -%}
    select * from {{ relation }}
    where rowid in (
        select arg_max(
            rowid,
            {% if version_column -%}
            coalesce(epoch_us({{ version_column }}), -4611686018427387904)::hugeint
                * 18446744073709551616 + (_partition_date - date '0001-01-01')
            {%- else -%}
            _partition_date
            {%- endif %}
        )
        from {{ relation }}
        group by {{ key_columns | join(', ') }}
    )
{%- endmacro %}

{% macro spark__latest_version_rows(relation, key_columns, version_column) -%}
    select * from {{ relation }}
    {{ qualify_latest_version(key_columns, version_column) }}
{%- endmacro %}
