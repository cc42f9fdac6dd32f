{{ incremental_by_key('order_id') }}

-- One row per order: when it was first seen refunded and first seen cancelled, from every
-- delivered version. Point-in-time features count a refund or a cancellation only from then on.
-- Incremental window: the versions delivered in [min_date, max_date], together with the stored
-- row of their orders; the earliest moment of both stays the earliest, so the result equals a
-- rebuild over every version without re-reading them.
with

versions as (

    select * from {{ ref('stg_orders__order_versions') }}
    {{ in_partition_window('delivered_on') }}

),

moments as (

    select
        order_id,
        min(updated_at) filter (
            where order_status = 'refunded' or refund_amount > 0
        ) as refunded_at,
        min(updated_at) filter (where order_status = 'cancelled') as cancelled_at
    from versions
    group by all

    {%- if is_incremental() %}

    union all

    select
        order_id,
        refunded_at,
        cancelled_at
    from {{ this }}
    where order_id in (select order_id from versions)
    {%- endif %}

),

final as (

    select
        order_id,
        min(refunded_at) as refunded_at,
        min(cancelled_at) as cancelled_at
    from moments
    group by all

)

select * from final
