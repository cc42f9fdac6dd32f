{{ incremental_by_key('order_line_id') }}

-- Incremental window: the order lines whose latest version was delivered in
-- [min_date, max_date] (the lines arrive with the order's first delivery). Product
-- attributes are those known when the line's day was processed.

with

order_lines as (

    select * from {{ ref('stg_orders__order_lines') }}
    {{ in_partition_window('delivered_on') }}

),

products as (

    select * from {{ ref('stg_orders__products') }}

),

final as (

    select
        cast(order_lines.order_line_id as string) as order_line_id,
        cast(order_lines.order_id as string) as order_id,
        cast(order_lines.line_number as bigint) as line_number,
        cast(order_lines.product_id as string) as product_id,
        cast(products.product_name as string) as product_name,
        cast(products.category as string) as category,
        cast(products.subcategory as string) as subcategory,
        cast(products.brand as string) as brand,
        cast(products.price_band as string) as price_band,
        cast(order_lines.quantity as bigint) as quantity,
        cast(order_lines.unit_price as decimal(18, 2)) as unit_price,
        cast(order_lines.line_discount_amount as decimal(18, 2)) as line_discount_amount,
        cast(order_lines.line_amount as decimal(18, 2)) as line_amount,
        cast(order_lines.delivered_on as date) as delivered_on
    from order_lines
    left join products
        on products.product_id = order_lines.product_id

)

select * from final
