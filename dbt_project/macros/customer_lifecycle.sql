{#- Lifecycle stage of a customer on the reference date, first match wins:
      prospect  no purchase at all
      churned   last purchase more than churned_after_days ago
      at_risk   last purchase more than at_risk_after_days ago
      loyal     (>= loyal_min_orders purchases and tenure >= loyal_min_tenure_days)
                or has referred another customer
      new       exactly one purchase
      repeat    two or more purchases -#}
{% macro lifecycle_stage(purchases, days_since_last_purchase, tenure_days, has_referred) -%}
    case
        when coalesce({{ purchases }}, 0) = 0 then 'prospect'
        when {{ days_since_last_purchase }} > {{ var('churned_after_days') }} then 'churned'
        when {{ days_since_last_purchase }} > {{ var('at_risk_after_days') }} then 'at_risk'
        when ({{ purchases }} >= {{ var('loyal_min_orders') }}
                and {{ tenure_days }} >= {{ var('loyal_min_tenure_days') }})
            or {{ has_referred }} then 'loyal'
        when {{ purchases }} = 1 then 'new'
        else 'repeat'
    end
{%- endmacro %}

{#- Membership tier from trailing-12-month spend and the tier thresholds. -#}
{% macro membership_tier(trailing_12m_spend) -%}
    case
        when coalesce({{ trailing_12m_spend }}, 0) >= {{ var('gold_tier_spend') }} then 'gold'
        when coalesce({{ trailing_12m_spend }}, 0) >= {{ var('silver_tier_spend') }} then 'silver'
        else 'standard'
    end
{%- endmacro %}

{#- Days a customer has been in the relationship on `as_of`: since sign-up, or since the first
    purchase if that came earlier (a customer may buy as a guest before signing up). -#}
{% macro tenure_days(as_of, signup_date, first_purchase_date) -%}
    {%- set relationship_start -%}
        least({{ signup_date }}, coalesce({{ first_purchase_date }}, {{ signup_date }}))
    {%- endset %}
    {{ days_between(relationship_start, as_of) }}
{%- endmacro %}
