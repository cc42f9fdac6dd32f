-- One row per customer and as-of date: the churn model's point-in-time features and label.
-- As-of dates: the reference date (scored, label unknown) and `churn_training_snapshots`
-- earlier dates, the latest `churn_horizon_days` before the reference date, then every
-- `churn_snapshot_step_days`. A snapshot holds what was known at the end of its as-of day:
-- orders placed, refunds and cancellations seen, complaints opened, replies and resolutions
-- given, surveys answered and posts published by then. Nothing later, whatever the warehouse
-- has learnt since. Customers enter a snapshot when they are active at its as-of date (a
-- purchase within `churned_after_days`); `churned` says whether they then bought nothing in
-- the `churn_horizon_days` that followed.
{%- set horizon = var('churn_horizon_days') %}
{%- set step = var('churn_snapshot_step_days') %}
{%- set snapshots = var('churn_training_snapshots') %}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

order_history as (

    select * from {{ ref('int_orders__status_history') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

tickets as (

    select * from {{ ref('int_tickets__matched') }}

),

surveys as (

    select * from {{ ref('stg_service__surveys') }}

),

posts as (

    select * from {{ ref('int_posts__scored') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

snapshot_dates as (

    select
        as_of,
        reference_date,
        -- Everything before the end of the as-of day is known on it.
        cast(as_of as timestamp) + interval 1 day as known_before
    from (
        select reference_date as as_of, reference_date
        from reference
        union all
        select
            reference_date
                - cast({{ horizon }} + {{ step }} * snapshot_number as integer) as as_of,
            reference_date
        from reference
        cross join range({{ snapshots }}) as snapshot_numbers (snapshot_number)
    )

),

-- Orders with a customer, with the moments their refund and cancellation became known.
customer_orders as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.order_date,
        orders.total_amount,
        orders.refund_amount,
        order_history.refunded_at,
        order_history.cancelled_at
    from orders
    left join order_history
        on order_history.order_id = orders.order_id
    where orders.customer_id is not null

),

-- A purchase as it stood at the end of the as-of day: not (yet) cancelled, its refund counted
-- only once the refund had happened.
purchases as (

    select
        snapshot_dates.as_of,
        customer_orders.customer_id,
        customer_orders.order_id,
        customer_orders.order_date,
        coalesce(customer_orders.refunded_at < snapshot_dates.known_before, false)
            as is_refunded,
        case
            when customer_orders.refunded_at < snapshot_dates.known_before
                then greatest(customer_orders.total_amount - customer_orders.refund_amount, 0)
            else customer_orders.total_amount
        end as net_revenue
    from customer_orders
    inner join snapshot_dates
        on customer_orders.ordered_at < snapshot_dates.known_before
    where customer_orders.cancelled_at is null
        or customer_orders.cancelled_at >= snapshot_dates.known_before

),

purchase_metrics as (

    select
        as_of,
        customer_id,
        count(*) as purchases,
        sum(net_revenue) as net_revenue,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        count(distinct order_date) as purchase_days,
        count(*) filter (where order_date > as_of - 90) as purchases_last_90d,
        count(*) filter (
            where order_date <= as_of - 90 and order_date > as_of - 180
        ) as purchases_prior_90d,
        coalesce(sum(net_revenue) filter (where order_date > as_of - 90), 0) as spend_last_90d,
        coalesce(
            sum(net_revenue) filter (where order_date <= as_of - 90 and order_date > as_of - 180),
            0
        ) as spend_prior_90d,
        coalesce(sum(net_revenue) filter (where order_date > as_of - 365), 0)
            as trailing_12m_spend,
        count(*) filter (where is_refunded) as refunds
    from purchases
    group by all

),

last_two_purchase_days as (

    select
        as_of,
        customer_id,
        max(order_date, 2) as latest_days
    from (select distinct as_of, customer_id, order_date from purchases)
    group by all

),

category_metrics as (

    select
        purchases.as_of,
        purchases.customer_id,
        count(distinct order_lines.category) as categories
    from purchases
    inner join order_lines
        on order_lines.order_id = purchases.order_id
    group by all

),

-- Complaints opened by the end of the as-of day; a reply, resolution or compensation given
-- later is not known yet (the complaint counts as unanswered or unresolved).
complaints_known as (

    select
        snapshot_dates.as_of,
        snapshot_dates.known_before,
        tickets.customer_id,
        tickets.opened_at,
        tickets.severity,
        case
            when tickets.first_response_at < snapshot_dates.known_before
                then tickets.first_response_at
        end as first_response_at,
        case
            when tickets.resolved_at < snapshot_dates.known_before then tickets.resolved_at
        end as resolved_at,
        case
            when tickets.resolved_at < snapshot_dates.known_before
                then tickets.compensation_amount
            else 0
        end as compensation_amount
    from tickets
    inner join snapshot_dates
        on tickets.opened_at < snapshot_dates.known_before
    where tickets.customer_id is not null
        and tickets.is_complaint

),

complaints_judged as (

    select
        *,
        -- Late: answered after the SLA, or still unanswered when the SLA had run out.
        epoch(coalesce(first_response_at, known_before) - opened_at)
            > {{ var('first_response_sla_hours') }} * 3600 as is_replied_late,
        severity in ('high', 'critical')
            and resolved_at is not null
            and compensation_amount = 0 as is_serious_uncompensated
    from complaints_known

),

complaint_metrics as (

    select
        as_of,
        customer_id,
        count(*) as complaints,
        count(*) filter (where opened_at >= known_before - interval 90 day)
            as complaints_last_90d,
        count(*) filter (where resolved_at is null) as unresolved_complaints,
        count(*) filter (where is_replied_late) as late_reply_complaints,
        count(*) filter (where is_serious_uncompensated) as uncompensated_serious_complaints,
        count(*) filter (where is_replied_late or is_serious_uncompensated)
            as badly_handled_complaints,
        -- Whole seconds: an exact average, so re-runs give identical tables.
        avg(date_diff('second', opened_at, resolved_at))
            filter (where resolved_at is not null) / 3600.0 as avg_resolution_hours,
        sum(compensation_amount) as compensation_amount,
        max(opened_at) as last_complaint_at
    from complaints_judged
    group by all

),

-- A survey answer belongs to its own customer_id, else to the customer of its ticket.
surveys_known as (

    select
        snapshot_dates.as_of,
        coalesce(surveys.customer_id, tickets.customer_id) as customer_id,
        surveys.survey_id,
        surveys.survey_type,
        surveys.answered_at,
        surveys.score
    from surveys
    left join tickets
        on tickets.ticket_id = surveys.ticket_id
    inner join snapshot_dates
        on surveys.answered_at < snapshot_dates.known_before

),

survey_metrics as (

    select
        as_of,
        customer_id,
        max_by(score, (answered_at, survey_id)) filter (where survey_type = 'csat') as last_csat,
        max_by(score, (answered_at, survey_id)) filter (where survey_type = 'nps') as last_nps
    from surveys_known
    where customer_id is not null
    group by all

),

post_metrics as (

    select
        snapshot_dates.as_of,
        posts.customer_id,
        count(*) as posts,
        count(*) filter (where posts.sentiment_score < 0) as negative_posts,
        -- Decimal, not double: an exact sum keeps re-runs identical whatever the threading.
        avg(cast(posts.sentiment_score as decimal(9, 6))) as avg_sentiment_score
    from posts
    inner join snapshot_dates
        on posts.posted_at < snapshot_dates.known_before
    where posts.customer_id is not null
    group by all

),

-- The label: purchases (latest known status) in the horizon after the as-of date.
future_purchases as (

    select
        snapshot_dates.as_of,
        orders.customer_id,
        count(*) as purchases
    from orders
    inner join snapshot_dates
        on orders.order_date > snapshot_dates.as_of
        and orders.order_date <= snapshot_dates.as_of + {{ horizon }}
    where orders.is_purchase
        and orders.customer_id is not null
    group by all

),

active_customers as (

    select
        purchase_metrics.*,
        snapshot_dates.reference_date,
        purchase_metrics.as_of - purchase_metrics.last_purchase_date as recency_days,
        case
            when purchase_metrics.purchase_days > 1
                then (purchase_metrics.last_purchase_date - purchase_metrics.first_purchase_date)
                    / (purchase_metrics.purchase_days - 1)
        end as mean_gap_days
    from purchase_metrics
    inner join snapshot_dates
        on snapshot_dates.as_of = purchase_metrics.as_of
    where purchase_metrics.as_of - purchase_metrics.last_purchase_date
        <= {{ var('churned_after_days') }}

),

final as (

    select
        cast(active_customers.customer_id as varchar) as customer_id,
        cast(active_customers.as_of as date) as as_of,
        cast(active_customers.reference_date as date) as reference_date,
        cast(active_customers.as_of = active_customers.reference_date as boolean)
            as is_scoring_snapshot,
        cast(active_customers.as_of + {{ horizon }} as date) as label_window_end,
        cast(
            case
                when active_customers.as_of + {{ horizon }} <= active_customers.reference_date
                    then coalesce(future_purchases.purchases, 0) = 0
            end
            as boolean
        ) as churned,
        cast(customers.customer_type as varchar) as customer_type,
        cast(
            active_customers.as_of - least(
                coalesce(customers.signup_date, active_customers.first_purchase_date),
                active_customers.first_purchase_date
            )
            as integer
        ) as tenure_days,
        cast(active_customers.last_purchase_date as date) as last_purchase_date,
        cast(active_customers.recency_days as integer) as recency_days,
        cast(active_customers.purchases as integer) as purchases,
        cast(active_customers.net_revenue as decimal(18, 2)) as net_revenue,
        cast(active_customers.net_revenue / active_customers.purchases as decimal(18, 2))
            as avg_order_value,
        cast(active_customers.purchases_last_90d as integer) as purchases_last_90d,
        cast(active_customers.purchases_prior_90d as integer) as purchases_prior_90d,
        cast(active_customers.spend_last_90d as decimal(18, 2)) as spend_last_90d,
        cast(active_customers.spend_prior_90d as decimal(18, 2)) as spend_prior_90d,
        cast(
            case
                when active_customers.spend_prior_90d > 0
                    then (active_customers.spend_last_90d - active_customers.spend_prior_90d)
                        / active_customers.spend_prior_90d
            end
            as double
        ) as spend_change_ratio,
        cast(active_customers.mean_gap_days as double) as mean_gap_days,
        cast(last_two_purchase_days.latest_days[1] - last_two_purchase_days.latest_days[2] as integer)
            as last_gap_days,
        cast(active_customers.recency_days / nullif(active_customers.mean_gap_days, 0) as double)
            as recency_gap_ratio,
        cast(coalesce(category_metrics.categories, 0) as integer) as categories,
        cast(active_customers.refunds as integer) as refunds,
        cast(active_customers.refunds / active_customers.purchases as double) as refund_share,
        cast(active_customers.trailing_12m_spend as decimal(18, 2)) as trailing_12m_spend,
        cast({{ membership_tier('active_customers.trailing_12m_spend') }} as varchar)
            as membership_tier,
        cast(coalesce(complaint_metrics.complaints, 0) as integer) as complaints,
        cast(coalesce(complaint_metrics.complaints_last_90d, 0) as integer)
            as complaints_last_90d,
        cast(coalesce(complaint_metrics.unresolved_complaints, 0) as integer)
            as unresolved_complaints,
        cast(coalesce(complaint_metrics.late_reply_complaints, 0) as integer)
            as late_reply_complaints,
        cast(coalesce(complaint_metrics.uncompensated_serious_complaints, 0) as integer)
            as uncompensated_serious_complaints,
        cast(coalesce(complaint_metrics.badly_handled_complaints, 0) as integer)
            as badly_handled_complaints,
        cast(complaint_metrics.avg_resolution_hours as double) as avg_resolution_hours,
        cast(coalesce(complaint_metrics.compensation_amount, 0) as decimal(18, 2))
            as compensation_amount,
        cast(
            active_customers.as_of - cast(complaint_metrics.last_complaint_at as date)
            as integer
        ) as days_since_last_complaint,
        cast(survey_metrics.last_csat as integer) as last_csat,
        cast(survey_metrics.last_nps as integer) as last_nps,
        cast(coalesce(post_metrics.posts, 0) as integer) as posts,
        cast(coalesce(post_metrics.negative_posts, 0) as integer) as negative_posts,
        cast(post_metrics.avg_sentiment_score as decimal(9, 6)) as avg_sentiment_score
    from active_customers
    left join customers
        on customers.customer_id = active_customers.customer_id
    left join last_two_purchase_days
        on last_two_purchase_days.as_of = active_customers.as_of
        and last_two_purchase_days.customer_id = active_customers.customer_id
    left join category_metrics
        on category_metrics.as_of = active_customers.as_of
        and category_metrics.customer_id = active_customers.customer_id
    left join complaint_metrics
        on complaint_metrics.as_of = active_customers.as_of
        and complaint_metrics.customer_id = active_customers.customer_id
    left join survey_metrics
        on survey_metrics.as_of = active_customers.as_of
        and survey_metrics.customer_id = active_customers.customer_id
    left join post_metrics
        on post_metrics.as_of = active_customers.as_of
        and post_metrics.customer_id = active_customers.customer_id
    left join future_purchases
        on future_purchases.as_of = active_customers.as_of
        and future_purchases.customer_id = active_customers.customer_id

)

select * from final
