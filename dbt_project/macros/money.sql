{#- `total` (money with cents) over `count` (> 0), rounded half away from zero to the cent
    exactly, from whole cents: dividing as doubles and casting to a decimal rounds the double's
    binary approximation, which lies just below or above an exact half cent (591.43 / 2 =
    295.715 became 295.71 on DuckDB and 295.72 on Spark). Exact for totals below 10^13. -#}
{% macro money_average(total, count) -%}
    cast(
        sign({{ total }})
        * floor(
            (abs(cast({{ total }} * 100 as double)) * 2 + {{ count }}) / (2 * {{ count }})
        )
        / 100
        as decimal(18, 2)
    )
{%- endmacro %}
