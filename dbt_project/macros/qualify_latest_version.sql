{#- Keeps the latest version of each key in a raw table of changed-rows deliveries.
    The latest `version_column` (usually updated_at) wins; ties go to the latest delivery
    (`_partition_date`), then the latest load, then the later file and row within it, so
    the choice is deterministic even when a day is re-sent. -#}
{% macro qualify_latest_version(key_columns, version_column=none) -%}
    qualify {{ version_rank(key_columns, version_column) }} = 1
{%- endmacro %}

{#- Each row's place among the versions of its key, 1 for the latest (qualify_latest_version). -#}
{% macro version_rank(key_columns, version_column=none) -%}
    row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by
            {% if version_column -%}
            {{ version_column }} desc nulls last,
            {% endif -%}
            _partition_date desc,
            _loaded_at desc nulls last,
            _file desc,
            _row_number desc
    )
{%- endmacro %}

{#- The rows `qualify_latest_version` keeps, from a raw table (not a view or CTE), where a key
    occurs at most once per delivery day. On DuckDB by the rows' ids (cross_db.sql), on Spark
    by the window. -#}
{% macro latest_version_rows(relation, key_columns, version_column=none) -%}
    {{ return(adapter.dispatch('latest_version_rows', 'weixi')(
        relation, key_columns, version_column
    )) }}
{%- endmacro %}

{#- The rows of a raw table (without a version column) that a later delivery of their key
    replaced, for an entity whose keys are rarely delivered twice (order lines, posts): by their
    key and lineage, the few rows `latest_delivered_rows` leaves out. Only the rows of repeated
    keys are ranked; keys are grouped by a hash, one narrow aggregate instead of sorting every
    row (at 1M customers, 19.7M order lines, none repeated: 3.3-4.1 CPU-s). Keys sharing a hash
    only go to the window, which compares the keys themselves. -#}
{% macro superseded_rows(relation, key_columns) -%}
    {%- set key_hash = 'hash(' ~ key_columns | join(', ') ~ ')' %}
    with repeated as (
        select {{ key_hash }} as key_hash from {{ relation }}
        group by all
        having count(*) > 1
    )
    select {{ key_columns | join(', ') }}, _partition_date, _file, _row_number, _load_id
    from {{ relation }}
    where {{ key_hash }} in (select key_hash from repeated)
    qualify {{ version_rank(key_columns) }} > 1
{%- endmacro %}

{#- The rows `qualify_latest_version` keeps (without a version column): those of `relation`, a
    raw table, but the rows `superseded` (superseded_rows of it) names. A row is named by its
    delivery day, file, row and load, so a day loaded again after `superseded` was built shows
    its new rows until the next build. -#}
{% macro latest_delivered_rows(relation, superseded) -%}
    select * from {{ relation }} as delivered
    where not exists (
        select 1 from {{ superseded }} as superseded
        where superseded._partition_date = delivered._partition_date
            and superseded._file = delivered._file
            and superseded._row_number = delivered._row_number
            and superseded._load_id = delivered._load_id
    )
{%- endmacro %}
