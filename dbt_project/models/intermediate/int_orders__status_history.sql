-- One row per order: when it was first seen refunded and first seen cancelled, from every
-- delivered version. Point-in-time features count a refund or a cancellation only from then on.
with

versions as (

    select * from {{ ref('stg_orders__order_versions') }}

),

final as (

    select
        order_id,
        min(updated_at) filter (
            where order_status = 'refunded' or refund_amount > 0
        ) as refunded_at,
        min(updated_at) filter (where order_status = 'cancelled') as cancelled_at
    from versions
    group by all

)

select * from final
