{{ incremental_by_key('order_date') }}
{#- Read only by an incremental run: the catalog the stored rows were counted with. -#}
-- depends_on: {{ ref('stg_orders__products') }}

-- One row per order date, association level (product, subcategory) and item pair of the
-- purchases (baskets) placed that day: the baskets holding both items (second_item null: the
-- baskets holding the item; both null at product level: the day's baskets), so that
-- product_associations sums days instead of joining every basket's items to each other.
-- Incremental window: every order date of an order or order line (re)delivered in
-- [min_date, max_date] whose baskets can have changed is recounted whole (below); a day
-- left without baskets keeps a zero row so that its old counts are replaced. A product moved
-- to another subcategory changes the counts of every day: when the catalog differs from the
-- one the stored rows were counted with (catalog_fingerprint), every day is recounted.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('stg_orders__products') }}

),

status_history as (

    select * from {{ ref('int_orders__status_history') }}

),

catalog as (

    select md5({{ ordered_string_agg(
        "product_id || '=' || coalesce(subcategory, '')", ',', 'product_id'
    ) }}) as catalog_fingerprint
    from products

),

{% if is_incremental() -%}
-- The orders the window (re)delivered whose baskets can have changed: those first delivered
-- in it, and those no longer or once not a purchase (a cancellation, or its reversal). A new
-- version between purchase states (paid, shipped, refunded) leaves the baskets as they were;
-- most of a day's deliveries are such versions of older orders.
redelivered as (

    select order_id, order_date, is_purchase from orders
    {{ in_partition_window('delivered_on') }}

),

rebasketed as (

    select order_date from redelivered
    where not is_purchase
        or order_id in (select order_id from status_history where cancelled_at is not null)
        or order_id not in (
            select order_id from {{ source('orders', 'orders') }}
            where _partition_date < {{ partition_window_start() }}
        )

),

touched_dates as (

    select order_date from rebasketed
    union
    select orders.order_date
    from (select order_id from lines {{ in_partition_window('delivered_on') }}) as delivered
    inner join orders
        on orders.order_id = delivered.order_id
    union
    -- Every day when the catalog changed (or the stored rows disagree about it).
    select order_date from orders
    where (select catalog_fingerprint from catalog) is distinct from (
        select case when min(catalog_fingerprint) = max(catalog_fingerprint)
            then min(catalog_fingerprint) end
        from {{ this }}
    )

),

{% else -%}
touched_dates as (

    select distinct order_date from orders

),

{% endif -%}
basket_lines as (

    select lines.order_id, orders.order_date, lines.product_id, products.subcategory
    from lines
    inner join orders
        on orders.order_id = lines.order_id
    left join products
        on products.product_id = lines.product_id
    where orders.is_purchase
        and lines.product_id is not null
        and orders.order_date in (select order_date from touched_dates)

),

items as (

    select distinct 'product' as association_level, order_id, order_date, product_id as item
    from basket_lines
    union all
    select distinct 'subcategory', order_id, order_date, subcategory
    from basket_lines
    where subcategory is not null

),

-- A pair is counted once, with its items in order (product_associations reads it both ways).
pairs as (

    select
        first_item.order_date,
        first_item.association_level,
        first_item.item as first_item,
        second_item.item as second_item,
        count(*) as baskets
    from items as first_item
    inner join items as second_item
        on second_item.order_id = first_item.order_id
        and second_item.association_level = first_item.association_level
        and second_item.item > first_item.item
    group by all

),

single_items as (

    select order_date, association_level, item as first_item, null as second_item, count(*)
        as baskets
    from items
    group by all

),

day_baskets as (

    select
        touched_dates.order_date,
        'product' as association_level,
        null as first_item,
        null as second_item,
        count(distinct basket_lines.order_id) as baskets
    from touched_dates
    left join basket_lines
        on basket_lines.order_date = touched_dates.order_date
    group by all

),

final as (

    select
        cast(counts.order_date as date) as order_date,
        cast(counts.association_level as string) as association_level,
        cast(counts.first_item as string) as first_item,
        cast(counts.second_item as string) as second_item,
        cast(counts.baskets as bigint) as baskets,
        cast(catalog.catalog_fingerprint as string) as catalog_fingerprint
    from (
        select order_date, association_level, first_item, second_item, baskets from pairs
        union all
        select order_date, association_level, first_item, second_item, baskets from single_items
        union all
        select order_date, association_level, first_item, second_item, baskets from day_baskets
    ) as counts
    cross join catalog

)

select * from final
