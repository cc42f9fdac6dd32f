-- One row per resolved customer with at least one purchase on or before the reference date:
-- purchase counts, revenue, refunds and trailing-12-month spend. Statuses are the latest
-- known (a later refund counts even for a past reference date). Read from the per-day
-- aggregate, so the cost follows customer-days, not orders.
with

purchase_days as (

    select * from {{ ref('int_customers__purchases_by_day') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

purchases as (

    select
        purchase_days.*,
        reference.reference_date
    from purchase_days
    cross join reference
    where purchase_days.purchases > 0
        and purchase_days.customer_id is not null
        and purchase_days.order_date <= reference.reference_date

),

final as (

    select
        customer_id,
        reference_date,
        cast(sum(purchases) as bigint) as purchases,
        sum(net_revenue) as net_revenue,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        cast(sum(refunds) as bigint) as refunds,
        sum(refund_amount) as refund_amount,
        coalesce(
            sum(net_revenue) filter (where order_date > reference_date - interval 365 day),
            0
        ) as trailing_12m_spend
    from purchases
    group by all

)

select * from final
