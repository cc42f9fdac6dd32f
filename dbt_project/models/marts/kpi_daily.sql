-- depends_on: {{ ref('fct_orders') }}
{{
    incremental_by_key(
        'kpi_date',
        post_hook=[
            "delete from {{ this }} where kpi_date not between "
            ~ "(select min(order_date) from {{ ref('int_customers__purchases_by_day') }} "
            ~ "where purchases > 0) and "
            ~ "(select max(order_date) from {{ ref('int_customers__purchases_by_day') }} "
            ~ "where purchases > 0)"
        ],
    )
}}

-- Read from the per-customer daily aggregate, and without range joins: a customer's purchase
-- days merge into spans of coverage (30 days for the active customers, 365 for the revenue
-- ranking), so the cost follows customer-days and the output, not days x buyers.
--
-- Incremental by day: a day's figures depend only on the purchase days up to it (365 days back
-- for the revenue ranking, a customer's first purchase for new and returning buyers), so a
-- night recomputes the days from the earliest order date of the orders the partition window
-- delivered (those int_customers__purchases_by_day rewrote; a late correction to an old order
-- recomputes from that order's day on) and the last day stored before (its revenue
-- concentration is measured only while it is the last day). Earlier days are kept; the
-- purchase days the recomputed ones read start 365 days before them. Days outside the first
-- to the last purchase date are deleted after (a correction may empty the last day).
with

all_purchase_days as (

    select * from {{ ref('int_customers__purchases_by_day') }}
    where purchases > 0

),

-- The first day recomputed, and the first purchase day its figures read.
recomputed as (

    {% if is_incremental() -%}
    select
        least(
            coalesce(
                (
                    select min(order_date) from {{ ref('fct_orders') }}
                    where {{ changed_orders_in_window() }}
                ),
                date '9999-12-31'
            ),
            coalesce((select max(kpi_date) from {{ this }}), date '1900-01-01')
        ) as first_day
    {%- else -%}
    select date '1900-01-01' as first_day
    {%- endif %}

),

purchase_days as (

    select all_purchase_days.*
    from all_purchase_days
    cross join recomputed
    where all_purchase_days.order_date >= recomputed.first_day - 365

),

customer_days as (

    select * from purchase_days
    where customer_id is not null

),

-- Over every purchase day: a customer's first purchase may lie before the days read.
first_purchases as (

    select
        customer_id,
        min(order_date) as first_purchase_date
    from all_purchase_days
    where customer_id is not null
    group by all

),

spine as (

    select {{ unnest_date_series('min(order_date)', 'max(order_date)', '1 day') }}
        as kpi_date
    from purchase_days

),

daily_orders as (

    select
        order_date,
        sum(purchases) as orders,
        sum(net_revenue) as revenue
    from purchase_days
    group by all

),

buyer_days as (

    select
        customer_days.order_date,
        customer_days.customer_id,
        customer_days.order_date > first_purchases.first_purchase_date as has_bought_before
    from customer_days
    inner join first_purchases
        on first_purchases.customer_id = customer_days.customer_id

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

-- A customer is active on the 30 days from each purchase day. Their spans of activity are
-- disjoint, so a day's active customers are the spans begun minus the spans ended by then.
active_spans as (

    {{ coverage_spans('customer_days', 30) }}

),

coverage_changes as (

    select change_date, sum(change) as change
    from (
        select span_start as change_date, 1 as change from active_spans
        union all
        select span_end + 1 as change_date, -1 as change from active_spans
    )
    group by all

),

active_30d as (

    select
        spine.kpi_date,
        sum(coalesce(coverage_changes.change, 0)) over (
            order by spine.kpi_date rows unbounded preceding
        ) as active_customers_30d
    from spine
    left join coverage_changes
        on coverage_changes.change_date = spine.kpi_date

),

-- Revenue concentration: on each month end and on the last day, the share of the trailing
-- 12 months' revenue (365 days up to the date, as for the membership tier) that came from the
-- top 20% of the customers who bought in those months. Measured on month ends only: ranking
-- every active customer on every day would cost days x customers rows.
measure_dates as (

    select spine.kpi_date
    from spine
    cross join recomputed
    where spine.kpi_date >= recomputed.first_day
        and (
            spine.kpi_date = last_day(spine.kpi_date)
            or spine.kpi_date = (select max(kpi_date) from spine)
        )

),

-- A customer's running revenue by purchase day: the trailing revenue at a date is the running
-- total on it minus the running total 365 days before.
running_revenue as (

    select
        customer_id,
        order_date,
        sum(net_revenue) over (
            partition by customer_id order by order_date rows unbounded preceding
        ) as revenue_to_date
    from customer_days

),

-- The customers who bought in the 365 days up to a date are those with a 365-day span on it.
ranking_spans as (

    {{ coverage_spans('customer_days', 365) }}

),

measured_customers as (

    select
        measure_dates.kpi_date,
        measure_dates.kpi_date - 365 as before_window,
        ranking_spans.customer_id
    from measure_dates
    inner join ranking_spans
        on measure_dates.kpi_date between ranking_spans.span_start and ranking_spans.span_end

),

trailing_revenue as (

    select
        measured_customers.kpi_date,
        measured_customers.customer_id,
        to_date.revenue_to_date - coalesce(before.revenue_to_date, 0) as revenue
    from measured_customers
    {{ asof_join(
        'inner', 'running_revenue', 'to_date', 'customer_id', 'measured_customers.customer_id',
        order_column='order_date', comparison='<=', bound='measured_customers.kpi_date',
    ) }}
    {{ asof_join(
        'left', 'running_revenue', 'before', 'customer_id', 'measured_customers.customer_id',
        order_column='order_date', comparison='<=', bound='measured_customers.before_window',
    ) }}

),

ranked as (

    select
        kpi_date,
        revenue,
        row_number() over (partition by kpi_date order by revenue desc, customer_id nulls last)
            as revenue_rank,
        count(*) over (partition by kpi_date) as customers
    from trailing_revenue

),

concentration as (

    select
        kpi_date,
        cast(sum(revenue) filter (where revenue_rank <= ceil(0.2 * customers)) as double)
            / nullif(sum(revenue), 0) as top20_revenue_share_12m
    from ranked
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
    cross join recomputed
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
    where spine.kpi_date >= recomputed.first_day

)

select * from final
