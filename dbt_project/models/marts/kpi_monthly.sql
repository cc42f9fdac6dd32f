{%- set churned_after = var('churned_after_days') %}
{%- set sla_days = ((
    [var('first_response_sla_hours'), var('resolution_sla_hours')] | max
) / 24) | round(0, 'ceil') | int + 1 %}
{{
    incremental_by_key(
        'month',
        post_hook=["{{ delete_months_outside_kpi_range(this) }}"],
    )
}}
-- One row per calendar month from the first month with a purchase, ticket or survey answer to
-- the month of the reference date (which may be partial): NPS and CSAT from the survey answers
-- of the month, complaints opened in the month and their first-reply and resolution SLA
-- rates, and churn and retention of the customers active when the month began. Churn is the
-- lifecycle stage's: `churned_after_days` without a purchase.
--
-- Incremental by month: a month's figures read the purchase days up to its end (from
-- churned_after_days + 1 days before it begins), the complaints opened and answers given in
-- it, and the reference date only through its end and the complaints still within their SLA.
-- So a night recomputes the months from the earliest of: the order date of an order, the
-- opening of a ticket and the answer of a survey the partition window delivered (as
-- kpi_daily, an order's date, a ticket's opening and an answer's time are taken as fixed),
-- and the earlier of the previous and the new reference date less the longer SLA and a day
-- (a complaint judged as of one and not the other). Earlier months are kept; months after
-- the reference date's, or before the first month, are deleted after.
with

purchases_by_day as (

    select * from {{ ref('int_customers__purchases_by_day') }}

),

tickets as (

    select * from {{ ref('stg_service__tickets') }}

),

surveys as (

    select * from {{ ref('stg_service__surveys') }}

),

reference as (

    {{ selected_reference_date() }}

),

-- The first month recomputed (a full build: every month).
recomputed as (

    {% if is_incremental() -%}
    select cast(date_trunc('month', least(
        (
            select min(order_date) from {{ ref('fct_orders') }}
            where {{ changed_orders_in_window() }}
        ),
        (select min(cast(opened_at as date)) from tickets {{ in_partition_window('delivered_on') }}),
        (select min(cast(answered_at as date)) from surveys {{ in_partition_window('delivered_on') }}),
        least(
            coalesce((select max(month_end) from {{ this }}), date '1900-01-01'),
            (select reference_date from reference)
        ) - {{ sla_days }}
    )) as date) as first_month
    {%- else -%}
    select date '1900-01-01' as first_month
    {%- endif %}

),

purchase_days as (

    select
        purchases_by_day.customer_id,
        purchases_by_day.order_date
    from purchases_by_day
    cross join reference
    cross join recomputed
    where purchases_by_day.purchases > 0
        and purchases_by_day.customer_id is not null
        and purchases_by_day.order_date <= reference.reference_date
        -- A customer is active at a month's start from a purchase this many days before it.
        and purchases_by_day.order_date >= recomputed.first_month - {{ churned_after + 1 }}

),

complaints as (

    select
        tickets.opened_at,
        tickets.first_response_at,
        tickets.resolved_at,
        -- The end of the reference day: later replies and resolutions are not known yet.
        cast(reference.reference_date as timestamp) + interval 1 day as known_before
    from tickets
    cross join reference
    cross join recomputed
    where tickets.is_complaint
        and cast(tickets.opened_at as date) <= reference.reference_date
        and tickets.opened_at >= recomputed.first_month

),

answers as (

    select surveys.*
    from surveys
    cross join reference
    cross join recomputed
    where cast(surveys.answered_at as date) <= reference.reference_date
        and surveys.answered_at >= recomputed.first_month

),

months as (

    select
        cast(month_start as date) as month_start,
        least(last_day(month_start), reference.reference_date) as month_end
    from (
        select {{ unnest_date_series(
            'cast(greatest('
            ~ first_kpi_month('(select reference_date from reference)')
            ~ ', (select first_month from recomputed)) as timestamp)',
            '(select reference_date from reference)',
            '1 month'
        ) }} as month_start
    )
    cross join reference

),

-- NPS: % promoters (9-10) minus % detractors (0-6) of the month's NPS answers. CSAT: share of
-- the month's CSAT answers (1-5) that are satisfied (4 or 5).
survey_metrics as (

    select
        date_trunc('month', answered_at) as month_start,
        count(*) filter (where survey_type = 'nps') as nps_answers,
        cast(100.0 * (
            count(*) filter (where survey_type = 'nps' and score >= 9)
            - count(*) filter (where survey_type = 'nps' and score <= 6)
        ) as double) / nullif(count(*) filter (where survey_type = 'nps'), 0) as nps,
        count(*) filter (where survey_type = 'csat') as csat_answers,
        count(*) filter (where survey_type = 'csat' and score >= 4)
            / nullif(count(*) filter (where survey_type = 'csat'), 0) as csat
    from answers
    group by all

),

-- A complaint is judged once replied (resolved) or once its SLA has run out unanswered
-- (unresolved) by the end of the reference day; one still within its SLA is not counted yet.
complaints_judged as (

    select
        date_trunc('month', opened_at) as month_start,
        case
            when first_response_at < known_before
                then {{ seconds_between('opened_at', 'first_response_at') }}
                    <= {{ var('first_response_sla_hours') }} * 3600
            when {{ seconds_between('opened_at', 'known_before') }}
                > {{ var('first_response_sla_hours') }} * 3600
                then false
        end as replied_within_sla,
        case
            when resolved_at < known_before
                then {{ seconds_between('opened_at', 'resolved_at') }}
                    <= {{ var('resolution_sla_hours') }} * 3600
            when {{ seconds_between('opened_at', 'known_before') }}
                > {{ var('resolution_sla_hours') }} * 3600
                then false
        end as resolved_within_sla
    from complaints

),

complaint_metrics as (

    select
        month_start,
        count(*) as complaints,
        count(*) filter (where replied_within_sla) / nullif(count(replied_within_sla), 0)
            as complaint_first_reply_sla_rate,
        count(*) filter (where resolved_within_sla) / nullif(count(resolved_within_sla), 0)
            as complaint_resolution_sla_rate
    from complaints_judged
    group by all

),

-- A customer is active at a month's start when they bought in the churned_after_days + 1
-- days before it: each purchase day covers the days after it up to then. Their spans of
-- coverage are disjoint, so a month start meets each active customer once.
days_after_purchase as (

    select customer_id, order_date + 1 as order_date from purchase_days

),

active_spans as (

    {{ coverage_spans('days_after_purchase', churned_after + 1) }}

),

-- Per month and customer active at its start: the last purchase before the month and the
-- last by its end (ASOF joins), in place of a join of months to every purchase day.
customer_months as (

    select
        months.month_start,
        months.month_end,
        last_before.order_date as last_purchase_before,
        last_by_end.order_date >= months.month_start as has_purchase_in_month
    from months
    inner join active_spans
        on months.month_start between active_spans.span_start and active_spans.span_end
    {{ asof_join(
        'inner', 'purchase_days', 'last_before', 'customer_id', 'active_spans.customer_id',
        order_column='order_date', comparison='<', bound='months.month_start',
    ) }}
    {{ asof_join(
        'inner', 'purchase_days', 'last_by_end', 'customer_id', 'active_spans.customer_id',
        order_column='order_date', comparison='<=', bound='months.month_end',
    ) }}

),

-- Churned in the month: active at its start, no purchase in it, and more than
-- churned_after_days since the last purchase by the month's end.
churn_metrics as (

    select
        month_start,
        count(*) as customers_active_at_start,
        count(*) filter (
            where not has_purchase_in_month
                and {{ days_between('last_purchase_before', 'month_end') }} > {{ churned_after }}
        ) as customers_churned
    from customer_months
    group by all

),

final as (

    select
        cast(months.month_start as date) as month,
        cast(months.month_end as date) as month_end,
        cast(months.month_end < last_day(months.month_start) as boolean) as is_partial_month,
        cast(survey_metrics.nps as double) as nps,
        cast(coalesce(survey_metrics.nps_answers, 0) as bigint) as nps_answers,
        cast(survey_metrics.csat as double) as csat,
        cast(coalesce(survey_metrics.csat_answers, 0) as bigint) as csat_answers,
        cast(coalesce(complaint_metrics.complaints, 0) as bigint) as complaints,
        cast(complaint_metrics.complaint_first_reply_sla_rate as double)
            as complaint_first_reply_sla_rate,
        cast(complaint_metrics.complaint_resolution_sla_rate as double)
            as complaint_resolution_sla_rate,
        cast(coalesce(churn_metrics.customers_active_at_start, 0) as bigint)
            as customers_active_at_start,
        cast(
            coalesce(churn_metrics.customers_active_at_start, 0)
                - coalesce(churn_metrics.customers_churned, 0)
            as bigint
        ) as customers_retained,
        cast(coalesce(churn_metrics.customers_churned, 0) as bigint) as customers_churned,
        cast(
            churn_metrics.customers_churned / nullif(churn_metrics.customers_active_at_start, 0)
            as double
        ) as churn_rate,
        cast(
            1 - churn_metrics.customers_churned
                / nullif(churn_metrics.customers_active_at_start, 0)
            as double
        ) as retention_rate
    from months
    left join survey_metrics
        on survey_metrics.month_start = months.month_start
    left join complaint_metrics
        on complaint_metrics.month_start = months.month_start
    left join churn_metrics
        on churn_metrics.month_start = months.month_start

)

select * from final
