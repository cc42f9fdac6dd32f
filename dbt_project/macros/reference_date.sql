{#- The select of the one-row reference date (int_reference_date__selected): the `as_of_date`
    var when given (point-in-time snapshots, backtests), else the date of the latest order,
    else today. An incremental model reads it here rather than from the view: the view is
    unpartitioned, so reading it would put the model in a partitioned stage of its own after
    the view's (orchestration/stages.py). -#}
{% macro selected_reference_date() -%}
    select
        coalesce(
            {% if var('as_of_date') -%}
            cast('{{ var("as_of_date") }}' as date),
            {%- endif %}
            max(order_date),
            current_date
        ) as reference_date
    from {{ ref('fct_orders') }}
{%- endmacro %}
