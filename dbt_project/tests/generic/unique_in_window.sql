{#- Fails for every value of `column_name` that a row delivered in the run's partition window
    (`window_column` in the window, see the macro test_window) shares with another row of the
    whole table. On an incremental table only those rows can have become duplicates tonight
    (the others were proved unique by the run that wrote them), so the test reads the window's
    keys and probes the table with them instead of grouping all history; without a window (a
    full build) it is `unique`. A model without a delivery day of its own names in `keys_from`
    the relation whose rows delivered in the window carry the keys the run rewrote (the same
    column name). -#}
{% test unique_in_window(model, column_name, window_column, keys_from=none) %}

{%- set window = test_window(window_column) | trim %}

with

{%- if window %}

window_keys as (

    select {{ column_name }} as key
    from {{ keys_from if keys_from is not none else model }}
    where {{ window }}

),
{%- endif %}

checked as (

    select {{ column_name }} as unique_field
    from {{ model }}
    {%- if window %}
    where {{ column_name }} in (select key from window_keys)
    {%- endif %}

)

select unique_field, count(*) as n_records
from checked
where unique_field is not null
group by unique_field
having count(*) > 1

{% endtest %}
