{#- Keeps the latest version of each key in a raw table of changed-rows deliveries.
    The latest `version_column` (usually updated_at) wins; ties go to the latest delivery
    (`_partition_date`), then the latest load, then the later file and row within it, so
    the choice is deterministic even when a day is re-sent. -#}
{% macro qualify_latest_version(key_columns, version_column=none) -%}
    qualify row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by
            {% if version_column -%}
            {{ version_column }} desc nulls last,
            {% endif -%}
            _partition_date desc,
            _loaded_at desc nulls last,
            _file desc,
            _row_number desc
    ) = 1
{%- endmacro %}

{#- The rows `qualify_latest_version` keeps, from a raw table (not a view or CTE), where a key
    occurs at most once per delivery day. On DuckDB by the rows' ids (cross_db.sql), on Spark
    by the window. -#}
{% macro latest_version_rows(relation, key_columns, version_column=none) -%}
    {{ return(adapter.dispatch('latest_version_rows', 'weixi')(
        relation, key_columns, version_column
    )) }}
{%- endmacro %}

{#- The rows `qualify_latest_version` keeps (without a version column), for an entity whose
    keys are rarely delivered twice (order lines, posts): the rows of a key delivered once are
    kept as they are, and only the rows of repeated keys are ordered by the window. Keys are
    grouped by a hash: one narrow aggregate instead of sorting every whole row (at 1M
    customers, 19.7M order lines, none repeated: 8.0 against 21.9 CPU-s). Keys sharing a hash
    only go to the window, which compares the keys themselves. -#}
{% macro latest_rarely_repeated_rows(relation, key_columns) -%}
    {%- set key_hash = 'hash(' ~ key_columns | join(', ') ~ ')' %}
    with repeated as (
        select {{ key_hash }} as key_hash from {{ relation }}
        group by all
        having count(*) > 1
    )
    select * from {{ relation }}
    where {{ key_hash }} not in (select key_hash from repeated)
    union all
    select * from (
        select * from {{ relation }}
        where {{ key_hash }} in (select key_hash from repeated)
        {{ qualify_latest_version(key_columns) }}
    )
{%- endmacro %}
