{#- The snapshot dates of segment_history: every month end from the month of the first purchase
    up to (before) the reference date, and the reference date itself. -#}
{% macro segment_snapshot_dates(orders, reference) -%}
    select last_day(month_start) as snapshot_date
    from (
        select
            {{ unnest_date_series(
                "date_trunc('month', min(orders.order_date))",
                'any_value(reference.reference_date)',
                '1 month'
            ) }} as month_start,
            any_value(reference.reference_date) as reference_date
        from {{ orders }} as orders
        cross join {{ reference }} as reference
        where orders.is_purchase
            and orders.customer_id is not null
            and orders.order_date <= reference.reference_date
    )
    where last_day(month_start) < reference_date
    union
    select reference_date from {{ reference }}
{%- endmacro %}

{#- A fingerprint of everything segment_history's snapshots are computed from, one row per input
    date: a snapshot depends only on the rows dated on or before it, so the earliest date whose
    fingerprint differs from the stored one (int_segment_history__inputs, written after the
    last build) is the earliest snapshot a night must recompute. Purchases are dated by their
    order date; a CRM row (sign-up date, referrer) by the first date it can count in a
    snapshot, the earlier of sign-up and first purchase. The business rules the segments use
    are part of every fingerprint, so changing one recomputes every snapshot. -#}
{% macro segment_history_inputs(orders, customers) -%}
    {%- set rules = [
        var('silver_tier_spend'), var('gold_tier_spend'), var('at_risk_after_days'),
        var('churned_after_days'), var('loyal_min_orders'), var('loyal_min_tenure_days'),
    ] | join('|') -%}
    with purchases as (
        select order_date as input_date, customer_id, hash(order_id, customer_id, net_revenue) as h
        from {{ orders }}
        where is_purchase
            and customer_id is not null
    ),
    first_purchases as (
        select customer_id, min(input_date) as first_purchase_date
        from purchases
        group by customer_id
    ),
    crm_rows as (
        select
            least(customers.signup_date, first_purchases.first_purchase_date) as input_date,
            hash(customers.customer_id, customers.signup_date, customers.referred_by_customer_id)
                as h
        from {{ customers }} as customers
        left join first_purchases
            on first_purchases.customer_id = customers.customer_id
    ),
    dated as (
        select input_date, h from purchases
        union all
        select input_date, h from crm_rows
    )
    select
        input_date,
        hash(count(*), sum(h), '{{ rules }}') as fingerprint
    from dated
    group by input_date
{%- endmacro %}

{#- The pairs of consecutive snapshot dates of `history` (segment_history). -#}
{% macro segment_snapshot_pairs(history) -%}
    select from_snapshot_date, to_snapshot_date
    from (
        select
            snapshot_date as from_snapshot_date,
            lead(snapshot_date) over (order by snapshot_date) as to_snapshot_date
        from (select distinct snapshot_date from {{ history }})
    )
    where to_snapshot_date is not null
{%- endmacro %}

{#- A fingerprint of each snapshot of `history` (segment_history), one row per snapshot date:
    the count and summed hashes of its rows over every column segment_migrations reads, so a
    snapshot that segment_history recomputed to different rows gets a different one. -#}
{% macro segment_snapshot_fingerprints(history) -%}
    select
        snapshot_date,
        hash(
            count(*),
            sum(hash(customer_id, rfm_segment, value_quadrant, lifecycle_stage, tier))
        ) as fingerprint
    from {{ history }}
    group by snapshot_date
{%- endmacro %}
