-- One row per resolved customer with at least one purchase on or before the reference date:
-- purchase counts, revenue, refunds and trailing-12-month spend. Statuses are the latest
-- known (a later refund counts even for a past reference date).
with

orders as (

    select * from {{ ref('fct_orders') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

purchases as (

    select
        orders.*,
        reference.reference_date
    from orders
    cross join reference
    where orders.is_purchase
        and orders.customer_id is not null
        and orders.order_date <= reference.reference_date

),

final as (

    select
        customer_id,
        reference_date,
        count(*) as purchases,
        sum(net_revenue) as net_revenue,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        count(*) filter (where has_refund) as refunds,
        coalesce(sum(refund_amount) filter (where has_refund), 0) as refund_amount,
        coalesce(
            sum(net_revenue) filter (where order_date > reference_date - interval 365 day),
            0
        ) as trailing_12m_spend
    from purchases
    group by all

)

select * from final
