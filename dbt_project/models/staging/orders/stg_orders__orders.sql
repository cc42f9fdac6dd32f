-- The base table holds each key's latest version already (deduplicated once per delivery).
with

latest as (

    select * from {{ ref('base_orders__orders') }}

),

final as (

    select
        order_id,
        {{ unless_erased("nullif(trim(customer_id), '')") }} as customer_id,
        guest_email,
        guest_phone,
        ordered_at,
        cast(ordered_at as date) as order_date,
        status as order_status,
        channel,
        currency,
        items_amount,
        discount_amount,
        coalesce(shipping_amount, 0) as shipping_amount,
        total_amount,
        coalesce(refund_amount, 0) as refund_amount,
        updated_at,
        _partition_date as delivered_on

    from latest

)

select * from final
