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
