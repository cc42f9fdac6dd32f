{{ incremental_by_key('order_date') }}

-- One row per customer and order date with an order (customer_id null: the orders matched to
-- no customer, so that day totals add up): purchases, their net revenue and refunds, by the
-- latest known status. Days whose orders were all cancelled stay, with zero purchases, so
-- that a day a correction empties is rewritten rather than left stale.
-- Incremental window: every order date of an order (re)delivered in [min_date, max_date], or
-- matched in it to a customer who arrived later (changed_orders_in_window), is recomputed
-- whole from fct_orders, so a late correction to an old order rewrites its day and the
-- aggregates downstream (RFM, the 360, kpi_daily) read days, not every order.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

{% if is_incremental() -%}
touched_dates as (

    select distinct order_date from orders
    where {{ changed_orders_in_window() }}

),

{% endif -%}
orders_in_scope as (

    select * from orders
    {%- if is_incremental() %}
    where order_date in (select order_date from touched_dates)
    {%- endif %}

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(order_date as date) as order_date,
        cast(count(*) filter (where is_purchase) as bigint) as purchases,
        cast(
            coalesce(sum(net_revenue) filter (where is_purchase), 0) as decimal(18, 2)
        ) as net_revenue,
        cast(count(*) filter (where is_purchase and has_refund) as bigint) as refunds,
        cast(
            coalesce(sum(refund_amount) filter (where is_purchase and has_refund), 0)
            as decimal(18, 2)
        ) as refund_amount
    from orders_in_scope
    group by all

)

select * from final
