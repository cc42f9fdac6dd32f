-- Every delivered version of every order (no dedupe): the status history that point-in-time
-- features need, since stg_orders__orders keeps only the latest version.
with

source as (

    select * from {{ source('orders', 'orders') }}

),

final as (

    select
        order_id,
        status as order_status,
        coalesce(refund_amount, 0) as refund_amount,
        updated_at,
        _partition_date as delivered_on

    from source

)

select * from final
