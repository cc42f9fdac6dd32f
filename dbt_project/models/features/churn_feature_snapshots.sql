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
{#- With the scoring snapshot alone (the nights the model does not retrain) every order is seen
    as it stood on the as-of day in one pass over the orders, summed per customer and day: the
    split into unchanged orders (running totals read by ASOF joins) and changed orders pays off
    only across several snapshots, and a scoring snapshot has no label to count. #}
{%- set one_snapshot = snapshots == 0 %}
{#- The spend of a customer's purchase rows (order_date, net_revenue) in the windows before as_of. -#}
{%- set spend_windows -%}
        coalesce(sum(net_revenue) filter (where order_date > as_of - 90), 0) as spend_last_90d,
        coalesce(
            sum(net_revenue) filter (where order_date <= as_of - 90 and order_date > as_of - 180),
            0
        ) as spend_prior_90d,
        coalesce(sum(net_revenue) filter (where order_date > as_of - 365), 0)
            as trailing_12m_spend
{%- endset %}

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
        cross join (select {{ unnest_range('0', snapshots) }} as snapshot_number)
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

-- Most orders are never refunded or cancelled: what they add to a snapshot depends only on
-- whether they were placed by its as-of day. They are summed once per customer and day and read
-- at each as-of date from running totals (ASOF joins), so their cost follows customer-days,
-- not orders x snapshots. Only the orders whose status ever changed are expanded over the
-- snapshots, to see each as it stood then.
unchanged_days as (

    select
        customer_id,
        order_date,
        count(*) as purchases,
        sum(total_amount) as net_revenue
    from customer_orders
    where refunded_at is null
        and cancelled_at is null
    group by all

),

unchanged_running as (

    select
        customer_id,
        order_date,
        sum(purchases) over to_date as purchases_to_date,
        sum(net_revenue) over to_date as revenue_to_date,
        count(*) over to_date as days_to_date,
        lag(order_date) over (partition by customer_id order by order_date) as previous_day,
        min(order_date) over (partition by customer_id) as first_day
    from unchanged_days
    window to_date as (partition by customer_id order by order_date rows unbounded preceding)

),

-- The customer and as-of pairs that can be active: an order in the year up to the as-of date
-- (`churned_after_days`; spans of coverage meet each customer once per as-of date).
order_days as (

    select distinct customer_id, order_date from customer_orders

),

candidate_spans as (

    {{ coverage_spans('order_days', var('churned_after_days') + 1) }}

),

candidates as (

    select
        snapshot_dates.as_of,
        candidate_spans.customer_id,
        snapshot_dates.as_of - 90 as as_of_less_90,
        snapshot_dates.as_of - 180 as as_of_less_180,
        snapshot_dates.as_of - 365 as as_of_less_365,
        snapshot_dates.as_of + {{ horizon }} as label_window_end
    from snapshot_dates
    inner join candidate_spans
        on snapshot_dates.as_of between candidate_spans.span_start and candidate_spans.span_end

),

unchanged_metrics as (

    select
        candidates.*,
        to_as_of.order_date as last_day,
        to_as_of.previous_day,
        to_as_of.first_day,
        coalesce(to_as_of.days_to_date, 0) as purchase_days,
        coalesce(to_as_of.purchases_to_date, 0) as purchases,
        coalesce(to_as_of.revenue_to_date, 0) as net_revenue,
        coalesce(to_as_of.purchases_to_date, 0) - coalesce(to_90.purchases_to_date, 0)
            as purchases_last_90d,
        coalesce(to_90.purchases_to_date, 0) - coalesce(to_180.purchases_to_date, 0)
            as purchases_prior_90d,
        coalesce(to_as_of.revenue_to_date, 0) - coalesce(to_90.revenue_to_date, 0)
            as spend_last_90d,
        coalesce(to_90.revenue_to_date, 0) - coalesce(to_180.revenue_to_date, 0)
            as spend_prior_90d,
        coalesce(to_as_of.revenue_to_date, 0) - coalesce(to_365.revenue_to_date, 0)
            as trailing_12m_spend
    from candidates
    {{ asof_join(
        'left', 'unchanged_running', 'to_as_of', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.as_of',
    ) }}
    {{ asof_join(
        'left', 'unchanged_running', 'to_90', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.as_of_less_90',
    ) }}
    {{ asof_join(
        'left', 'unchanged_running', 'to_180', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.as_of_less_180',
    ) }}
    {{ asof_join(
        'left', 'unchanged_running', 'to_365', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.as_of_less_365',
    ) }}

),

-- An order whose status changed (with one snapshot: every order), as it stood at the end of
-- the as-of day: not (yet) cancelled, its refund counted only once the refund had happened.
changed_purchases as (

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
    where {{ 'true' if one_snapshot else
            '(customer_orders.refunded_at is not null or customer_orders.cancelled_at is not null)'
        }}
        and (
            customer_orders.cancelled_at is null
            or customer_orders.cancelled_at >= snapshot_dates.known_before
        )

),
{%- if one_snapshot %}

known_days as (

    select
        as_of,
        customer_id,
        order_date,
        count(*) as purchases,
        sum(net_revenue) as net_revenue,
        count(*) filter (where is_refunded) as refunds,
        lag(order_date) over (partition by as_of, customer_id order by order_date)
            as previous_day
    from changed_purchases
    group by as_of, customer_id, order_date

),

purchase_metrics as (

    select
        as_of,
        customer_id,
        cast(sum(purchases) as bigint) as purchases,
        sum(net_revenue) as net_revenue,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        cast(count(*) as bigint) as purchase_days,
        cast(coalesce(sum(purchases) filter (where order_date > as_of - 90), 0) as bigint)
            as purchases_last_90d,
        cast(
            coalesce(
                sum(purchases) filter (where order_date <= as_of - 90 and order_date > as_of - 180),
                0
            )
            as bigint
        ) as purchases_prior_90d,
        {{ spend_windows }},
        cast(sum(refunds) as bigint) as refunds,
        {{ list_of(['max(order_date)', 'max_by(previous_day, order_date)']) }} as latest_days
    from known_days
    group by all

),

category_metrics as (

    select
        changed_purchases.as_of,
        changed_purchases.customer_id,
        count(distinct order_lines.category) as categories
    from changed_purchases
    inner join order_lines
        on order_lines.order_id = changed_purchases.order_id
    group by all

),
{%- else %}

changed_metrics as (

    select
        as_of,
        customer_id,
        count(*) as purchases,
        sum(net_revenue) as net_revenue,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        count(*) filter (where order_date > as_of - 90) as purchases_last_90d,
        count(*) filter (
            where order_date <= as_of - 90 and order_date > as_of - 180
        ) as purchases_prior_90d,
        {{ spend_windows }},
        count(*) filter (where is_refunded) as refunds
    from changed_purchases
    group by all

),

-- The purchase days of changed orders: the latest two, and how many no unchanged order has.
changed_days as (

    select
        changed.as_of,
        changed.customer_id,
        count(*) filter (where unchanged_days.order_date is null) as extra_days,
        {{ max_n('changed.order_date', 2) }} as latest_days
    from (select distinct as_of, customer_id, order_date from changed_purchases) as changed
    left join unchanged_days
        on unchanged_days.customer_id = changed.customer_id
        and unchanged_days.order_date = changed.order_date
    group by all

),

purchase_metrics as (

    select
        unchanged_metrics.as_of,
        unchanged_metrics.customer_id,
        cast(unchanged_metrics.purchases + coalesce(changed_metrics.purchases, 0) as bigint)
            as purchases,
        unchanged_metrics.net_revenue + coalesce(changed_metrics.net_revenue, 0) as net_revenue,
        least(unchanged_metrics.first_day, changed_metrics.first_purchase_date)
            as first_purchase_date,
        greatest(unchanged_metrics.last_day, changed_metrics.last_purchase_date)
            as last_purchase_date,
        cast(unchanged_metrics.purchase_days + coalesce(changed_days.extra_days, 0) as bigint)
            as purchase_days,
        cast(
            unchanged_metrics.purchases_last_90d + coalesce(changed_metrics.purchases_last_90d, 0)
            as bigint
        ) as purchases_last_90d,
        cast(
            unchanged_metrics.purchases_prior_90d
            + coalesce(changed_metrics.purchases_prior_90d, 0)
            as bigint
        ) as purchases_prior_90d,
        unchanged_metrics.spend_last_90d + coalesce(changed_metrics.spend_last_90d, 0)
            as spend_last_90d,
        unchanged_metrics.spend_prior_90d + coalesce(changed_metrics.spend_prior_90d, 0)
            as spend_prior_90d,
        unchanged_metrics.trailing_12m_spend + coalesce(changed_metrics.trailing_12m_spend, 0)
            as trailing_12m_spend,
        cast(coalesce(changed_metrics.refunds, 0) as bigint) as refunds,
        {{ list_top_distinct(
            list_concat(
                list_of(['unchanged_metrics.last_day', 'unchanged_metrics.previous_day']),
                'coalesce(changed_days.latest_days, ' ~ list_of([]) ~ ')'
            ),
            2
        ) }} as latest_days
    from unchanged_metrics
    left join changed_metrics
        on changed_metrics.as_of = unchanged_metrics.as_of
        and changed_metrics.customer_id = unchanged_metrics.customer_id
    left join changed_days
        on changed_days.as_of = unchanged_metrics.as_of
        and changed_days.customer_id = unchanged_metrics.customer_id
    where unchanged_metrics.purchases + coalesce(changed_metrics.purchases, 0) > 0

),

-- Distinct categories bought: those of unchanged orders by the day each first appeared (a
-- running count), plus those only changed orders standing on the as-of day hold.
unchanged_categories as (

    select
        customer_orders.customer_id,
        order_lines.category,
        min(customer_orders.order_date) as first_day
    from customer_orders
    inner join order_lines
        on order_lines.order_id = customer_orders.order_id
    where customer_orders.refunded_at is null
        and customer_orders.cancelled_at is null
        and order_lines.category is not null
    group by all

),

unchanged_category_days as (

    select
        customer_id,
        first_day,
        sum(count(*)) over (partition by customer_id order by first_day) as categories_to_date
    from unchanged_categories
    group by customer_id, first_day

),

changed_categories as (

    select
        changed.as_of,
        changed.customer_id,
        count(*) as extra_categories
    from (
        select distinct
            changed_purchases.as_of,
            changed_purchases.customer_id,
            order_lines.category
        from changed_purchases
        inner join order_lines
            on order_lines.order_id = changed_purchases.order_id
        where order_lines.category is not null
    ) as changed
    left join unchanged_categories
        on unchanged_categories.customer_id = changed.customer_id
        and unchanged_categories.category = changed.category
        and unchanged_categories.first_day <= changed.as_of
    where unchanged_categories.customer_id is null
    group by all

),

category_metrics as (

    select
        purchase_metrics.as_of,
        purchase_metrics.customer_id,
        coalesce(to_as_of.categories_to_date, 0)
            + coalesce(changed_categories.extra_categories, 0) as categories
    from purchase_metrics
    {{ asof_join(
        'left', 'unchanged_category_days', 'to_as_of',
        'customer_id', 'purchase_metrics.customer_id',
        order_column='first_day', comparison='<=', bound='purchase_metrics.as_of',
    ) }}
    left join changed_categories
        on changed_categories.as_of = purchase_metrics.as_of
        and changed_categories.customer_id = purchase_metrics.customer_id

),
{%- endif %}

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
        {{ seconds_between('opened_at', 'coalesce(first_response_at, known_before)') }}
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
        avg({{ whole_seconds_between('opened_at', 'resolved_at') }})
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

{%- if one_snapshot %}

-- The scoring snapshot's horizon has not ended: no label to count.
future_purchases as (

    select as_of, cast(null as string) as customer_id, 0 as purchases from snapshot_dates
    where false

),
{%- else %}

-- The label: purchases (latest known status) in the horizon after the as-of date, as the
-- difference of running totals by purchase day.
purchase_running as (

    select
        customer_id,
        order_date,
        sum(count(*)) over (partition by customer_id order by order_date) as purchases_to_date
    from orders
    where is_purchase
        and customer_id is not null
    group by customer_id, order_date

),

future_purchases as (

    select
        candidates.as_of,
        candidates.customer_id,
        coalesce(to_window_end.purchases_to_date, 0) - coalesce(to_as_of.purchases_to_date, 0)
            as purchases
    from candidates
    {{ asof_join(
        'left', 'purchase_running', 'to_window_end', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.label_window_end',
    ) }}
    {{ asof_join(
        'left', 'purchase_running', 'to_as_of', 'customer_id', 'candidates.customer_id',
        order_column='order_date', comparison='<=', bound='candidates.as_of',
    ) }}

),
{%- endif %}

active_customers as (

    select
        purchase_metrics.*,
        snapshot_dates.reference_date,
        {{ days_between('purchase_metrics.last_purchase_date', 'purchase_metrics.as_of') }}
            as recency_days,
        case
            when purchase_metrics.purchase_days > 1
                then {{ days_between(
                    'purchase_metrics.first_purchase_date', 'purchase_metrics.last_purchase_date'
                ) }}
                    / (purchase_metrics.purchase_days - 1)
        end as mean_gap_days
    from purchase_metrics
    inner join snapshot_dates
        on snapshot_dates.as_of = purchase_metrics.as_of
    where {{ days_between('purchase_metrics.last_purchase_date', 'purchase_metrics.as_of') }}
        <= {{ var('churned_after_days') }}

),

final as (

    select
        cast(active_customers.customer_id as string) as customer_id,
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
        cast(customers.customer_type as string) as customer_type,
        cast(
            {{ days_between(
                'least(coalesce(customers.signup_date, active_customers.first_purchase_date),'
                ~ ' active_customers.first_purchase_date)',
                'active_customers.as_of'
            ) }}
            as integer
        ) as tenure_days,
        cast(active_customers.last_purchase_date as date) as last_purchase_date,
        cast(active_customers.recency_days as integer) as recency_days,
        cast(active_customers.purchases as integer) as purchases,
        cast(active_customers.net_revenue as decimal(18, 2)) as net_revenue,
        {{ money_average('active_customers.net_revenue', 'active_customers.purchases') }}
            as avg_order_value,
        cast(active_customers.purchases_last_90d as integer) as purchases_last_90d,
        cast(active_customers.purchases_prior_90d as integer) as purchases_prior_90d,
        cast(active_customers.spend_last_90d as decimal(18, 2)) as spend_last_90d,
        cast(active_customers.spend_prior_90d as decimal(18, 2)) as spend_prior_90d,
        cast(
            case
                when active_customers.spend_prior_90d > 0
                    then cast(
                        active_customers.spend_last_90d - active_customers.spend_prior_90d
                        as double
                    ) / active_customers.spend_prior_90d
            end
            as double
        ) as spend_change_ratio,
        cast(active_customers.mean_gap_days as double) as mean_gap_days,
        cast(
            {{ days_between(
                list_element('active_customers.latest_days', 2),
                list_element('active_customers.latest_days', 1)
            ) }}
            as integer
        ) as last_gap_days,
        cast(active_customers.recency_days / nullif(active_customers.mean_gap_days, 0) as double)
            as recency_gap_ratio,
        cast(coalesce(category_metrics.categories, 0) as integer) as categories,
        cast(active_customers.refunds as integer) as refunds,
        cast(active_customers.refunds / active_customers.purchases as double) as refund_share,
        cast(active_customers.trailing_12m_spend as decimal(18, 2)) as trailing_12m_spend,
        cast({{ membership_tier('active_customers.trailing_12m_spend') }} as string)
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
            {{ days_between(
                'cast(complaint_metrics.last_complaint_at as date)', 'active_customers.as_of'
            ) }}
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
