{#- The spans of days in which a customer is covered, when each of their purchase days covers
    itself and the `days` - 1 days after it (a 30-day activity window, a 12-month ranking): a
    select of customer_id, span_start and span_end (inclusive) over `relation`, one row per
    customer and purchase day (customer_id, order_date). Overlapping coverage merges, so a
    customer's spans are disjoint and any date lies in at most one of them: a date meets each
    customer once, where a join of dates to purchase days would meet them once per purchase. -#}
{% macro coverage_spans(relation, days) -%}
    select
        customer_id,
        min(order_date) as span_start,
        max(order_date) + {{ days - 1 }} as span_end
    from (
        select
            customer_id,
            order_date,
            sum(cast(starts_span as integer)) over (
                partition by customer_id order by order_date rows unbounded preceding
            ) as span_number
        from (
            select
                customer_id,
                order_date,
                coalesce(
                    order_date > lag(order_date) over (
                        partition by customer_id order by order_date
                    ) + {{ days - 1 }},
                    true
                ) as starts_span
            from {{ relation }}
        )
    )
    group by customer_id, span_number
{%- endmacro %}
