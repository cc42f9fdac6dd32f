with

orders as (

    select * from {{ ref('fct_orders') }}

),

purchases as (

    select * from orders
    where is_purchase

),

first_purchases as (

    select
        customer_id,
        min(order_date) as first_purchase_date
    from purchases
    where customer_id is not null
    group by all

),

spine as (

    select cast(unnest(generate_series(min(order_date), max(order_date), interval 1 day)) as date)
        as kpi_date
    from purchases

),

buyer_days as (

    select distinct
        purchases.order_date,
        purchases.customer_id,
        purchases.order_date > first_purchases.first_purchase_date as has_bought_before
    from purchases
    inner join first_purchases
        on first_purchases.customer_id = purchases.customer_id

),

daily_orders as (

    select
        order_date,
        count(*) as orders,
        sum(net_revenue) as revenue
    from purchases
    group by all

),

daily_buyers as (

    select
        order_date,
        count(*) as buyers,
        count(*) filter (where has_bought_before) as returning_buyers
    from buyer_days
    group by all

),

daily_new_customers as (

    select
        first_purchase_date as order_date,
        count(*) as new_customers
    from first_purchases
    group by all

),

active_30d as (

    select
        spine.kpi_date,
        count(distinct buyer_days.customer_id) as active_customers_30d
    from spine
    inner join buyer_days
        on buyer_days.order_date between spine.kpi_date - interval 29 day and spine.kpi_date
    group by all

),

final as (

    select
        cast(spine.kpi_date as date) as kpi_date,
        cast(coalesce(daily_orders.orders, 0) as bigint) as orders,
        cast(coalesce(daily_buyers.buyers, 0) as bigint) as buyers,
        cast(coalesce(daily_new_customers.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(daily_orders.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(active_30d.active_customers_30d, 0) as bigint) as active_customers_30d,
        cast(
            case
                when daily_buyers.buyers > 0
                    then daily_buyers.returning_buyers / daily_buyers.buyers
            end
            as double
        ) as repurchase_rate
    from spine
    left join daily_orders
        on daily_orders.order_date = spine.kpi_date
    left join daily_buyers
        on daily_buyers.order_date = spine.kpi_date
    left join daily_new_customers
        on daily_new_customers.order_date = spine.kpi_date
    left join active_30d
        on active_30d.kpi_date = spine.kpi_date

)

select * from final
