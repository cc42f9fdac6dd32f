{#- The filter of an incremental model on the partition window that Dagster passes as the
    `min_date` / `max_date` vars (inclusive delivery days). Only incremental runs filter: a first
    build or a full refresh takes everything. Never use it in a `table` model. -#}
{% macro in_partition_window(column) -%}
    {% if is_incremental() -%}
    where {{ column }} between cast('{{ var("min_date") }}' as date)
        and cast('{{ var("max_date") }}' as date)
    {%- endif %}
{%- endmacro %}
