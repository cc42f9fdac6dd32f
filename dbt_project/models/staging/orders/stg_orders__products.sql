with

latest as (

    {{ latest_version_rows(source('orders', 'products'), ['product_id'], 'updated_at') }}

),

final as (

    select
        product_id,
        product_name,
        category,
        subcategory,
        brand,
        price_band,
        list_price,
        coalesce(is_repeat_purchase, false) as is_repeat_purchase,
        status as product_status,
        launched_on,
        updated_at,
        _partition_date as delivered_on

    from latest

)

select * from final
