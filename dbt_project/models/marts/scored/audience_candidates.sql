-- Everything the audience definitions (activation/audiences.yml) filter on and pay out, one
-- row per CRM customer as of the reference date: consent and whether an identifier exists per
-- channel (never the identifier), segments, model scores, recommendations, the care-trigger
-- dates (birthday, anniversaries, complaints, tier upgrades) and the account-manager plan.
with

customers as (

    select * from {{ ref('customer_360') }}

),

crm as (

    select * from {{ ref('stg_crm__customers') }}

),

segments as (

    select * from {{ ref('customer_segments') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

tickets as (

    select * from {{ ref('int_tickets__matched') }}

),

tier_changes as (

    select * from {{ ref('int_customers__tier_changes') }}

),

churn_scores as (

    select * from {{ source('ml', 'churn_scores') }}

),

recommendations as (

    select * from {{ source('ml', 'recommendations') }}

),

identifiers as (

    select
        customer_id,
        nullif(trim(email), '') is not null as has_email,
        nullif(trim(phone), '') is not null as has_phone,
        {{ regexp_contains("lower(coalesce(social_handles, ''))", '(^|;)\s*wechat:\s*\S') }}
            as has_wechat,
        next_revisit_date
    from crm

),

-- arg_max, not a window: a grouped pick does not sort every purchase by customer.
last_orders as (

    select
        orders.customer_id,
        max_by(orders.total_amount, (orders.ordered_at, orders.order_id)) as last_order_amount
    from orders
    inner join customers
        on customers.customer_id = orders.customer_id
    where orders.is_purchase
        and orders.order_date <= customers.reference_date
    group by orders.customer_id

),

complaints as (

    select
        tickets.customer_id,
        count(*) filter (
            where tickets.resolved_at is null
                or cast(tickets.resolved_at as date) > customers.reference_date
        ) as open_complaints,
        max(cast(tickets.resolved_at as date)) filter (
            where cast(tickets.resolved_at as date) <= customers.reference_date
        ) as last_complaint_resolved_on,
        max_by(tickets.ticket_id, tickets.resolved_at) filter (
            where cast(tickets.resolved_at as date) <= customers.reference_date
        ) as last_resolved_complaint_ticket_id,
        max_by(tickets.ticket_category, tickets.resolved_at) filter (
            where cast(tickets.resolved_at as date) <= customers.reference_date
        ) as last_resolved_complaint_category
    from tickets
    inner join customers
        on customers.customer_id = tickets.customer_id
    where tickets.is_complaint
        and cast(tickets.opened_at as date) <= customers.reference_date
    group by tickets.customer_id

),

upgrades as (

    select
        tier_changes.customer_id,
        max_by(tier_changes.from_tier, tier_changes.changed_at) as upgraded_from_tier,
        max(tier_changes.changed_on) as tier_upgraded_on
    from tier_changes
    inner join customers
        on customers.customer_id = tier_changes.customer_id
    where tier_changes.is_upgrade
        and tier_changes.changed_on <= customers.reference_date
    group by tier_changes.customer_id

),

-- The first recommendation, a bought-together product where there is one (a cross-sell), and
-- the names of the top three. One grouping with integer-keyed picks: an arg_min over a
-- (kind, rank) struct and a string_agg ordered by rank cost seconds per million customers.
recommendation_picks as (

    select
        customer_id,
        coalesce(
            min_by(product_id, rank) filter (where reason_kind = 'bought_with'),
            min_by(product_id, rank) filter (where reason_kind is not null),
            min_by(product_id, rank)
        ) as cross_sell_product_id,
        coalesce(
            min_by(product_name, rank) filter (where reason_kind = 'bought_with'),
            min_by(product_name, rank) filter (where reason_kind is not null),
            min_by(product_name, rank)
        ) as cross_sell_product_name,
        -- Ranks run 1, 2, 3, ... without gaps; concat_ws skips the ranks a customer lacks.
        nullif(
            concat_ws(
                '; ',
                any_value(product_name) filter (where rank = 1),
                any_value(product_name) filter (where rank = 2),
                any_value(product_name) filter (where rank = 3)
            ),
            ''
        ) as recommended_products
    from recommendations
    group by customer_id

),

referrals as (

    select
        referred_by_customer_id as customer_id,
        count(*) as referred_customers
    from customers
    where referred_by_customer_id is not null
    group by referred_by_customer_id

),

joined as (

    select
        customers.*,
        identifiers.has_email,
        identifiers.has_phone,
        identifiers.has_wechat,
        segments.rfm_segment,
        segments.rfm_value_class,
        segments.value_quadrant,
        segments.persona,
        segments.clv_12m,
        last_orders.last_order_amount,
        churn_scores.churn_probability,
        churn_scores.risk_band as churn_risk_band,
        nullif(
            concat_ws('; ', churn_scores.reason_1, churn_scores.reason_2, churn_scores.reason_3),
            ''
        ) as churn_reasons,
        recommendation_picks.cross_sell_product_id,
        recommendation_picks.cross_sell_product_name,
        recommendation_picks.recommended_products,
        coalesce(complaints.open_complaints, 0) as open_complaints,
        complaints.last_complaint_resolved_on,
        complaints.last_resolved_complaint_ticket_id,
        complaints.last_resolved_complaint_category,
        upgrades.upgraded_from_tier,
        upgrades.tier_upgraded_on,
        coalesce(referrals.referred_customers, 0) as referred_customers,
        identifiers.next_revisit_date as crm_next_revisit_date,
        -- Without a date planned in the CRM, an account is revisited every quarter.
        coalesce(
            identifiers.next_revisit_date,
            cast(date_trunc('quarter', customers.reference_date) + interval 3 month as date)
        ) as planned_revisit_date
    from customers
    left join identifiers
        on identifiers.customer_id = customers.customer_id
    left join segments
        on segments.customer_id = customers.customer_id
    left join last_orders
        on last_orders.customer_id = customers.customer_id
    left join churn_scores
        on churn_scores.customer_id = customers.customer_id
    left join recommendation_picks
        on recommendation_picks.customer_id = customers.customer_id
    left join complaints
        on complaints.customer_id = customers.customer_id
    left join upgrades
        on upgrades.customer_id = customers.customer_id
    left join referrals
        on referrals.customer_id = customers.customer_id

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(reference_date as date) as audience_date,
        cast(customer_type as string) as customer_type,
        cast(account_manager_id as string) as account_manager_id,
        cast(email_consent as boolean) as email_consent,
        cast(sms_consent as boolean) as sms_consent,
        cast(wechat_consent as boolean) as wechat_consent,
        cast(phone_consent as boolean) as phone_consent,
        cast(marketing_opt_out as boolean) as marketing_opt_out,
        cast(coalesce(has_email, false) as boolean) as has_email,
        cast(coalesce(has_phone, false) as boolean) as has_phone,
        cast(coalesce(has_wechat, false) as boolean) as has_wechat,
        cast(lifecycle_stage as string) as lifecycle_stage,
        cast(membership_tier as string) as membership_tier,
        cast(crm_membership_tier as string) as crm_membership_tier,
        cast(rfm_segment as string) as rfm_segment,
        cast(rfm_value_class as string) as value_class,
        cast(value_quadrant as string) as value_quadrant,
        cast(persona as string) as persona,
        cast(clv_12m as decimal(18, 2)) as clv_12m,
        cast(lifetime_orders as bigint) as lifetime_orders,
        cast(lifetime_net_revenue as decimal(18, 2)) as lifetime_net_revenue,
        cast(signup_date as date) as signup_date,
        cast({{ days_between('signup_date', 'reference_date') }} as integer) as days_since_signup,
        cast(first_order_date as date) as first_order_date,
        cast({{ days_between('first_order_date', 'reference_date') }} as integer)
            as days_since_first_order,
        cast(last_order_date as date) as last_order_date,
        cast(days_since_last_order as integer) as days_since_last_order,
        cast(last_order_amount as decimal(18, 2)) as last_order_amount,
        cast(churn_probability as double) as churn_probability,
        cast(churn_risk_band as string) as churn_risk_band,
        cast(churn_reasons as string) as churn_reasons,
        cast(cross_sell_product_id as string) as cross_sell_product_id,
        cast(cross_sell_product_name as string) as cross_sell_product_name,
        cast(recommended_products as string) as recommended_products,
        cast(
            coalesce({{ is_yearly_return('birthday', 'reference_date') }}, false) as boolean
        ) as is_birthday_today,
        cast(
            coalesce(
                {{ is_yearly_return('signup_date', 'reference_date') }}
                and year(reference_date) > year(signup_date),
                false
            )
            as boolean
        ) as is_signup_anniversary_today,
        cast(
            coalesce(
                {{ is_yearly_return('first_order_date', 'reference_date') }}
                and year(reference_date) > year(first_order_date),
                false
            )
            as boolean
        ) as is_first_order_anniversary_today,
        cast(year(reference_date) - year(signup_date) as integer) as signup_years,
        cast(open_complaints as bigint) as open_complaints,
        cast(last_complaint_resolved_on as date) as last_complaint_resolved_on,
        cast({{ days_between('last_complaint_resolved_on', 'reference_date') }} as integer)
            as days_since_complaint_resolved,
        cast(last_resolved_complaint_ticket_id as string) as last_resolved_complaint_ticket_id,
        cast(last_resolved_complaint_category as string) as last_resolved_complaint_category,
        cast(upgraded_from_tier as string) as upgraded_from_tier,
        cast(tier_upgraded_on as date) as tier_upgraded_on,
        cast({{ days_between('tier_upgraded_on', 'reference_date') }} as integer)
            as days_since_tier_upgrade,
        cast(has_referred as boolean) as has_referred,
        cast(referred_customers as bigint) as referred_customers,
        cast(crm_next_revisit_date as date) as crm_next_revisit_date,
        cast(planned_revisit_date as date) as planned_revisit_date,
        cast({{ days_between('reference_date', 'planned_revisit_date') }} as integer)
            as days_until_revisit
    from joined

)

select * from final
