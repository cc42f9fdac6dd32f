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

-- Revenue concentration: on each month end and on the last day, the share of the trailing
-- 12 months' revenue (365 days up to the date, as for the membership tier) that came from the
-- top 20% of the customers who bought in those months. Measured on month ends only: ranking
-- every active customer on every day would cost days x customers rows.
measure_dates as (

    select kpi_date from spine
    where kpi_date = last_day(kpi_date)
        or kpi_date = (select max(kpi_date) from spine)

),

customer_days as (

    select
        order_date,
        customer_id,
        sum(net_revenue) as revenue
    from purchases
    where customer_id is not null
    group by all

),

trailing_revenue as (

    select
        measure_dates.kpi_date,
        customer_days.customer_id,
        sum(customer_days.revenue) as revenue
    from measure_dates
    inner join customer_days
        on customer_days.order_date > measure_dates.kpi_date - interval 365 day
        and customer_days.order_date <= measure_dates.kpi_date
    group by all

),

ranked as (

    select
        kpi_date,
        revenue,
        row_number() over (partition by kpi_date order by revenue desc, customer_id)
            as revenue_rank,
        count(*) over (partition by kpi_date) as customers
    from trailing_revenue

),

concentration as (

    select
        kpi_date,
        sum(revenue) filter (where revenue_rank <= ceil(0.2 * customers))
            / nullif(sum(revenue), 0) as top20_revenue_share_12m
    from ranked
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
        ) as repurchase_rate,
        cast(concentration.top20_revenue_share_12m as double) as top20_revenue_share_12m
    from spine
    left join daily_orders
        on daily_orders.order_date = spine.kpi_date
    left join daily_buyers
        on daily_buyers.order_date = spine.kpi_date
    left join daily_new_customers
        on daily_new_customers.order_date = spine.kpi_date
    left join active_30d
        on active_30d.kpi_date = spine.kpi_date
    left join concentration
        on concentration.kpi_date = spine.kpi_date

)

select * from final
