-- The base view holds each key's latest delivery already (latest_delivered).
with

latest as (

    select * from {{ ref('base_social__posts') }}

),

final as (

    select
        post_id,
        platform,
        post_type,
        author_handle,
        {{ unless_erased("nullif(trim(customer_id), '')") }} as customer_id,
        product_id,
        posted_at,
        language,
        text as post_text,
        rating,
        coalesce(likes, 0) as likes,
        _partition_date as delivered_on

    from latest

)

select * from final
