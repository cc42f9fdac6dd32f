-- One row per CRM customer: a 0-100 health score, the weighted average of seven 0-100
-- components (100 = healthiest), with the weights of the `health_weight_*` vars. A component
-- that cannot be known for the customer (no survey answer or text; no churn score while no
-- model is promoted) is left out and the others' weights are scaled up to make the whole.
-- Opted-out customers keep their score: it is analysis, not contact (docs/consent_and_erasure.md).
{%- set weights = {
    'recency': var('health_weight_recency'),
    'frequency': var('health_weight_frequency'),
    'monetary': var('health_weight_monetary'),
    'satisfaction': var('health_weight_satisfaction'),
    'service': var('health_weight_service'),
    'engagement': var('health_weight_engagement'),
    'churn_risk': var('health_weight_churn_risk'),
} %}

with

customers as (

    select * from {{ ref('customer_360') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

churn_scores as (

    select * from {{ source('ml', 'churn_scores') }}

),

components as (

    select
        customers.customer_id,
        customers.reference_date,
        customers.lifecycle_stage,
        churn_scores.churn_probability,
        -- RFM quintile scores 1-5 as 0-100; no purchase yet scores 0.
        coalesce((rfm.r_score - 1) * 25.0, 0) as recency,
        coalesce((rfm.f_score - 1) * 25.0, 0) as frequency,
        coalesce((rfm.m_score - 1) * 25.0, 0) as monetary,
        -- The mean of what the customer told us: latest NPS (0-10) and CSAT (1-5) answers, and
        -- the sentiment (-1..1) of their posts and of what they wrote to service.
        (
            coalesce(customers.last_nps * 10.0, 0)
            + coalesce((customers.last_csat - 1) * 25.0, 0)
            + coalesce((customers.sentiment_score + 1) * 50.0, 0)
            + coalesce((customers.service_text_sentiment_score + 1) * 50.0, 0)
        ) / nullif(
            cast(customers.last_nps is not null as integer)
            + cast(customers.last_csat is not null as integer)
            + cast(customers.sentiment_score is not null as integer)
            + cast(customers.service_text_sentiment_score is not null as integer),
            0
        ) as satisfaction,
        -- Without complaints 100. With complaints, half for the share answered within the
        -- first-reply SLA and half falling with their number (one 50, two 25, ...).
        case
            when customers.complaints = 0 then 100.0
            else 50.0 * coalesce(customers.complaint_first_reply_sla_rate, 0)
                + cast(50 as double) / customers.complaints
        end as service,
        -- Social engagement: 25 per post, 100 from four posts on.
        least(100.0, 25.0 * customers.social_posts) as engagement,
        -- 100 x (1 - calibrated churn probability). A customer the churn model does not score
        -- because they are not active (no purchase in churned_after_days, or never) scores 0;
        -- an active customer without a score (no model promoted yet) is unknown.
        case
            when churn_scores.churn_probability is not null
                then 100.0 * (1 - churn_scores.churn_probability)
            when customers.lifetime_orders = 0
                or customers.days_since_last_order > {{ var('churned_after_days') }}
                then 0.0
        end as churn_risk
    from customers
    left join rfm
        on rfm.customer_id = customers.customer_id
    left join churn_scores
        on churn_scores.customer_id = customers.customer_id

),

scored as (

    select
        *,
        (
            {%- for name, weight in weights.items() %}
            coalesce({{ name }} * {{ weight }}, 0){{ ' +' if not loop.last }}
            {%- endfor %}
        ) / nullif(
            {%- for name, weight in weights.items() %}
            cast({{ name }} is not null as integer) * {{ weight }}{{ ' +' if not loop.last }}
            {%- endfor %},
            0
        ) as health

    from components

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(reference_date as date) as reference_date,
        cast(round(health, 1) as double) as health_score,
        cast(round(recency, 1) as double) as recency_score,
        cast(round(frequency, 1) as double) as frequency_score,
        cast(round(monetary, 1) as double) as monetary_score,
        cast(round(satisfaction, 1) as double) as satisfaction_score,
        cast(round(service, 1) as double) as service_score,
        cast(round(engagement, 1) as double) as engagement_score,
        cast(round(churn_risk, 1) as double) as churn_risk_score,
        cast(churn_probability as double) as churn_probability,
        cast(lifecycle_stage as string) as lifecycle_stage
    from scored

)

select * from final
