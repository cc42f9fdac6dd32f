with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

purchases as (

    select * from {{ ref('int_customers__purchases_aggregated') }}

),

service as (

    select * from {{ ref('int_customers__service_aggregated') }}

),

social as (

    select * from {{ ref('int_customers__social_aggregated') }}

),

ledger as (

    select * from {{ ref('int_customers__suppressions_aggregated') }}

),

referrers as (

    select distinct referred_by_customer_id as customer_id
    from customers
    where referred_by_customer_id is not null

),

joined as (

    select
        customers.*,
        reference.reference_date,
        coalesce(purchases.purchases, 0) as lifetime_orders,
        coalesce(purchases.net_revenue, 0) as lifetime_net_revenue,
        purchases.first_purchase_date,
        purchases.last_purchase_date,
        coalesce(purchases.refunds, 0) as refunds,
        coalesce(purchases.refund_amount, 0) as refund_amount,
        coalesce(purchases.trailing_12m_spend, 0) as trailing_12m_spend,
        coalesce(service.tickets, 0) as tickets,
        coalesce(service.complaints, 0) as complaints,
        service.complaint_first_reply_sla_rate,
        service.avg_resolution_hours,
        coalesce(service.compensation_amount, 0) as compensation_amount,
        service.last_csat,
        service.last_nps,
        coalesce(social.posts, 0) as social_posts,
        social.avg_rating,
        social.avg_sentiment_score,
        social.last_sentiment_score,
        coalesce(social.negative_posts, 0) as negative_posts,
        service.avg_service_text_sentiment,
        coalesce(service.negative_service_texts, 0) as negative_service_texts,
        referrers.customer_id is not null as has_referred,
        coalesce(ledger.has_opted_out, false) as ledger_opted_out,
        ledger.opted_out_at as ledger_opted_out_at,
        coalesce(ledger.email_opted_out, false) as ledger_email_opted_out,
        coalesce(ledger.sms_opted_out, false) as ledger_sms_opted_out,
        coalesce(ledger.wechat_opted_out, false) as ledger_wechat_opted_out,
        coalesce(ledger.phone_opted_out, false) as ledger_phone_opted_out
    from customers
    cross join reference
    left join purchases
        on purchases.customer_id = customers.customer_id
    left join service
        on service.customer_id = customers.customer_id
    left join social
        on social.customer_id = customers.customer_id
    left join referrers
        on referrers.customer_id = customers.customer_id
    left join ledger
        on ledger.customer_id = customers.customer_id

),

derived as (

    select
        *,
        -- The relationship starts at sign-up, or at the first purchase if that came earlier.
        {{ days_between(
            'least(signup_date, coalesce(first_purchase_date, signup_date))', 'reference_date'
        ) }} as tenure_days,
        {{ days_between('last_purchase_date', 'reference_date') }} as days_since_last_purchase,
        -- The ledger remembers every opt-out ever delivered: a stale CRM re-import that
        -- says "consents true" again cannot bring a customer back.
        coalesce(marketing_opt_out, false) or ledger_opted_out as has_opted_out
    from joined

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(customer_type as string) as customer_type,
        cast(customer_name as string) as customer_name,
        cast(gender as string) as gender,
        cast(birthday as date) as birthday,
        cast(city as string) as city,
        cast(region as string) as region,
        cast(occupation as string) as occupation,
        cast(signup_date as date) as signup_date,
        cast(acquisition_channel as string) as acquisition_channel,
        cast(account_manager_id as string) as account_manager_id,
        cast(referred_by_customer_id as string) as referred_by_customer_id,
        cast(crm_membership_tier as string) as crm_membership_tier,
        cast(
            coalesce(email_consent, false) and not has_opted_out and not ledger_email_opted_out
            as boolean
        ) as email_consent,
        cast(
            coalesce(sms_consent, false) and not has_opted_out and not ledger_sms_opted_out
            as boolean
        ) as sms_consent,
        cast(
            coalesce(wechat_consent, false) and not has_opted_out and not ledger_wechat_opted_out
            as boolean
        ) as wechat_consent,
        cast(
            coalesce(phone_consent, false) and not has_opted_out and not ledger_phone_opted_out
            as boolean
        ) as phone_consent,
        cast(has_opted_out as boolean) as marketing_opt_out,
        cast(
            case when has_opted_out then least(opted_out_at, ledger_opted_out_at) end
            as timestamp
        ) as opted_out_at,
        cast(reference_date as date) as reference_date,
        cast(lifetime_orders as bigint) as lifetime_orders,
        cast(lifetime_net_revenue as decimal(18, 2)) as lifetime_net_revenue,
        cast(
            case
                when lifetime_orders > 0
                    then {{ money_average('lifetime_net_revenue', 'lifetime_orders') }}
            end
            as decimal(18, 2)
        ) as avg_order_value,
        cast(first_purchase_date as date) as first_order_date,
        cast(last_purchase_date as date) as last_order_date,
        cast(days_since_last_purchase as integer) as days_since_last_order,
        cast(tenure_days as integer) as tenure_days,
        cast(refunds as bigint) as refunds,
        cast(refund_amount as decimal(18, 2)) as refund_amount,
        cast(tickets as bigint) as tickets,
        cast(complaints as bigint) as complaints,
        cast(complaint_first_reply_sla_rate as double) as complaint_first_reply_sla_rate,
        cast(avg_resolution_hours as double) as avg_resolution_hours,
        cast(compensation_amount as decimal(18, 2)) as compensation_amount,
        cast(last_csat as integer) as last_csat,
        cast(last_nps as integer) as last_nps,
        cast(social_posts as bigint) as social_posts,
        cast(avg_rating as double) as avg_rating,
        cast(avg_sentiment_score as double) as sentiment_score,
        cast(last_sentiment_score as double) as last_sentiment_score,
        cast(negative_posts as bigint) as negative_posts,
        cast(avg_service_text_sentiment as double) as service_text_sentiment_score,
        cast(negative_service_texts as bigint) as negative_service_texts,
        cast(trailing_12m_spend as decimal(18, 2)) as trailing_12m_spend,
        cast({{ membership_tier('trailing_12m_spend') }} as string) as membership_tier,
        cast(has_referred as boolean) as has_referred,
        cast(
            {{ lifecycle_stage(
                'lifetime_orders', 'days_since_last_purchase', 'tenure_days', 'has_referred'
            ) }}
            as string
        ) as lifecycle_stage
    from derived

)

select * from final
