-- The base view holds each key's latest delivery already (latest_delivered).
with

latest as (

    select * from {{ ref('base_orders__order_lines') }}

),

final as (

    select
        md5(concat_ws('|', order_id, line_number)) as order_line_id,
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        coalesce(discount_amount, 0) as line_discount_amount,
        line_amount,
        _partition_date as delivered_on

    from latest

)

select * from final
