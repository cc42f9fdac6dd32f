{#- Fails for every value of `column_name` that a row delivered in the run's partition window
    (`window_column` between WEIXI_DBT_MIN_DATE and WEIXI_DBT_MAX_DATE, see the macro
    in_partition_window) shares with another row of the whole table. On an incremental table
    only those rows can have become duplicates tonight (the others were proved unique by the
    run that wrote them), so the test reads the window's keys and probes the table with them
    instead of grouping all history; without a window (a full build) it is `unique`. The window
    is read only while the test runs (`execute`), never while dbt parses. -#}
{% test unique_in_window(model, column_name, window_column) %}

with

window_keys as (

    select {{ column_name }} as key
    from {{ model }}
    {%- if execute %}
    where {{ window_column }}
        between cast('{{ env_var("WEIXI_DBT_MIN_DATE", "1900-01-01") }}' as date)
        and cast('{{ env_var("WEIXI_DBT_MAX_DATE", "9999-12-31") }}' as date)
    {%- endif %}

)

select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} in (select key from window_keys)
group by {{ column_name }}
having count(*) > 1

{% endtest %}
