{#- `relationships` for the rows delivered in the run's partition window (`window_column` in
    the window, see the macro test_window): fails for every value of `column_name` in those rows
    that `field` of `to` does not hold. Only the rows a night wrote can have lost their parent
    that night, so the parent is probed with the window's values instead of joining all history
    to all history; without a window (a full build) every row is checked. -#}
{% test relationships_in_window(model, column_name, to, field, window_column) %}

{%- set window = test_window(window_column) | trim %}

with

child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
    {%- if window %}
        and {{ window }}
    {%- endif %}

),

parent as (

    select {{ field }} as to_field
    from {{ to }}
    {%- if window %}
    where {{ field }} in (select from_field from child)
    {%- endif %}

)

select child.from_field
from child
left join parent
    on parent.to_field = child.from_field
where parent.to_field is null

{% endtest %}
