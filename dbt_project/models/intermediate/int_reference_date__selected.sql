-- One row: the date customer metrics are computed as of. The `as_of_date` var when given
-- (point-in-time snapshots, backtests), else the date of the latest order, else today.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        coalesce(
            {% if var('as_of_date') -%}
            cast('{{ var("as_of_date") }}' as date),
            {%- endif %}
            max(order_date),
            current_date
        ) as reference_date
    from orders

)

select * from final
