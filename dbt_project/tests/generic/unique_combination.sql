{#- Fails for every combination of `columns` that more than one row shares: `unique` over
    several columns. Grouping by the columns themselves, not by one string built from them,
    keeps the test cheap on a table of many millions of rows (segment_history). -#}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as n_records
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
