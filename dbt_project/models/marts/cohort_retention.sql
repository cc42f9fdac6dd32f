-- One row per acquisition cohort (the month of a customer's first purchase) and month since
-- acquisition, from the cohort's month 0 to the month of the reference date: how many of the
-- cohort's customers bought in that month and the net revenue they brought, against the
-- cohort's size and its month-0 revenue. Purchases as in fct_orders (latest known status).
with

orders as (

    select * from {{ ref('fct_orders') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

purchases as (

    select
        orders.customer_id,
        cast(date_trunc('month', orders.order_date) as date) as order_month,
        orders.net_revenue
    from orders
    cross join reference
    where orders.is_purchase
        and orders.customer_id is not null
        and orders.order_date <= reference.reference_date

),

cohorts as (

    select
        customer_id,
        min(order_month) as cohort_month
    from purchases
    group by all

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_customers
    from cohorts
    group by all

),

-- Every month of every cohort up to the reference month, so months without a purchase show
-- as zero rather than missing.
cohort_months as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        {{ unnest_range(
            '0',
            months_between_starts(
                'cohort_sizes.cohort_month', "date_trunc('month', reference.reference_date)"
            ) ~ ' + 1'
        ) }} as months_since_acquisition
    from cohort_sizes
    cross join reference

),

activity as (

    select
        cohorts.cohort_month,
        {{ months_between_starts('cohorts.cohort_month', 'purchases.order_month') }}
            as months_since_acquisition,
        count(distinct purchases.customer_id) as active_customers,
        sum(purchases.net_revenue) as revenue
    from purchases
    inner join cohorts
        on cohorts.customer_id = purchases.customer_id
    group by all

),

joined as (

    select
        cohort_months.cohort_month,
        cohort_months.months_since_acquisition,
        cast(cohort_months.cohort_month
            + {{ months_interval('cohort_months.months_since_acquisition') }}
            as date) as activity_month,
        cohort_months.cohort_customers,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.revenue, 0) as revenue
    from cohort_months
    left join activity
        on activity.cohort_month = cohort_months.cohort_month
        and activity.months_since_acquisition = cohort_months.months_since_acquisition

),

final as (

    select
        cast(joined.cohort_month as date) as cohort_month,
        cast(joined.months_since_acquisition as integer) as months_since_acquisition,
        cast(joined.activity_month as date) as activity_month,
        cast(
            joined.activity_month = date_trunc('month', reference.reference_date)
                and reference.reference_date < last_day(reference.reference_date)
            as boolean
        ) as is_partial_month,
        cast(joined.cohort_customers as bigint) as cohort_customers,
        cast(joined.active_customers as bigint) as active_customers,
        cast(joined.active_customers / joined.cohort_customers as double)
            as customer_retention_rate,
        cast(joined.revenue as decimal(18, 2)) as revenue,
        cast(
            cast(joined.revenue as double) / nullif(
                first_value(joined.revenue) over (
                    partition by joined.cohort_month order by joined.months_since_acquisition
                ),
                0
            )
            as double
        ) as revenue_retention_rate
    from joined
    cross join reference

)

select * from final
