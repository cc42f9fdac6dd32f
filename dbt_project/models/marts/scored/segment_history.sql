-- One row per snapshot date and CRM customer: the customer's RFM segment, value quadrant,
-- lifecycle stage and membership tier as of that date. Snapshot dates: every month end up to
-- the reference date, and the reference date itself. RFM, lifecycle stage and tier are
-- recomputed for a snapshot from what is known now, with the macros customer_rfm and
-- customer_360 use, so a snapshot on the reference date agrees with them. The value quadrant
-- comes from the lifetime-value model, which scores the reference date only: a snapshot keeps
-- the quadrant it was given on the night it was the reference date (read back from this
-- table before it is replaced); snapshots older than the first scored night have none.
--
-- Incremental by snapshot date: a snapshot depends only on the purchases and CRM rows dated on
-- or before it, so a night recomputes the reference date's snapshot, the one that was the
-- reference date before (it now holds only the customers of its date), any snapshot not stored
-- yet, and every snapshot on or after the earliest input date whose fingerprint changed since
-- the last build (a late correction to an old order recomputes from that order's date on; see
-- the macro segment_history_inputs). The others are kept as they are. Snapshot dates that are
-- no longer snapshot dates (the previous reference date, when not a month end) are deleted.
{{
    incremental_by_key(
        'snapshot_date',
        reads_built_rows=true,
        post_hook=[
            "delete from {{ this }} where snapshot_date not in ("
            ~ "{{ segment_snapshot_dates(ref('fct_orders'), ref('int_reference_date__selected')) }})"
        ],
    )
}}
{%- set previous = load_relation(this) %}
{#- Read by name, not ref(): that model is built after this one, from the same inputs. -#}
{%- set stored_inputs = adapter.get_relation(
    database=this.database, schema='intermediate', identifier='int_segment_history__inputs'
) if is_incremental() else none %}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

customer_value as (

    select * from {{ source('ml', 'customer_value') }}

),

purchases as (

    select
        orders.customer_id,
        orders.order_date,
        orders.net_revenue
    from orders
    cross join reference
    where orders.is_purchase
        and orders.customer_id is not null
        and orders.order_date <= reference.reference_date

),

all_snapshot_dates as (

    {{ segment_snapshot_dates(ref('fct_orders'), ref('int_reference_date__selected')) }}

),

{% if is_incremental() -%}
stored_snapshots as (

    select snapshot_date, bool_or(is_reference_date) as was_reference_date
    from {{ this }}
    group by snapshot_date

),

changed_inputs as (

    {% if stored_inputs is none -%}
    select cast(null as date) as changed_from, true as all_changed
    {%- else -%}
    select min(coalesce(current_inputs.input_date, stored.input_date)) as changed_from,
        false as all_changed
    from ({{ segment_history_inputs(ref('fct_orders'), ref('stg_crm__customers')) }})
        as current_inputs
    full join {{ stored_inputs }} as stored
        on stored.input_date = current_inputs.input_date
    where current_inputs.fingerprint is distinct from stored.fingerprint
    {%- endif %}

),

{% endif -%}
snapshot_dates as (

    select all_snapshot_dates.snapshot_date
    from all_snapshot_dates
    {%- if is_incremental() %}
    cross join reference
    cross join changed_inputs
    left join stored_snapshots
        on stored_snapshots.snapshot_date = all_snapshot_dates.snapshot_date
    where changed_inputs.all_changed
        or all_snapshot_dates.snapshot_date = reference.reference_date
        or all_snapshot_dates.snapshot_date >= changed_inputs.changed_from
        or stored_snapshots.snapshot_date is null
        or stored_snapshots.was_reference_date
    {%- endif %}

),

{% if previous is not none -%}
previous_snapshots as (

    select snapshot_date, customer_id, value_quadrant from {{ built_rows(this) }}
    where snapshot_date in (select snapshot_date from snapshot_dates)

),

{% endif -%}
-- The purchase aggregates of int_customers__purchases_aggregated, as of each snapshot date.
purchase_metrics as (

    select
        snapshot_dates.snapshot_date,
        purchases.customer_id,
        count(*) as purchases,
        sum(purchases.net_revenue) as net_revenue,
        min(purchases.order_date) as first_purchase_date,
        max(purchases.order_date) as last_purchase_date,
        coalesce(
            sum(purchases.net_revenue) filter (
                where purchases.order_date > snapshot_dates.snapshot_date - interval 365 day
            ),
            0
        ) as trailing_12m_spend
    from snapshot_dates
    inner join purchases
        on purchases.order_date <= snapshot_dates.snapshot_date
    group by all

),

-- customer_rfm's scores: quintiles over every customer with a purchase, per snapshot.
rfm as (

    select
        snapshot_date,
        customer_id,
        {{ quintile_score(
            days_between('last_purchase_date', 'snapshot_date') ~ ' desc', 'snapshot_date'
        ) }}
            as r_score,
        {{ quintile_score('purchases', 'snapshot_date') }} as f_score
    from purchase_metrics

),

referrals as (

    select
        referred_by_customer_id as customer_id,
        signup_date
    from customers
    where referred_by_customer_id is not null

),

-- A customer belongs to a snapshot once signed up or buying by then; the reference date's
-- snapshot holds every CRM customer, as customer_360 does.
members as (

    select
        snapshot_dates.snapshot_date,
        snapshot_dates.snapshot_date = reference.reference_date as is_reference_date,
        customers.customer_id,
        customers.signup_date,
        purchase_metrics.purchases,
        purchase_metrics.first_purchase_date,
        purchase_metrics.last_purchase_date,
        purchase_metrics.trailing_12m_spend
    from snapshot_dates
    cross join reference
    cross join customers
    left join purchase_metrics
        on purchase_metrics.snapshot_date = snapshot_dates.snapshot_date
        and purchase_metrics.customer_id = customers.customer_id
    where snapshot_dates.snapshot_date = reference.reference_date
        or least(customers.signup_date, purchase_metrics.first_purchase_date)
            <= snapshot_dates.snapshot_date

),

derived as (

    select
        members.*,
        {{ tenure_days('members.snapshot_date', 'members.signup_date', 'members.first_purchase_date') }}
            as tenure_days,
        {{ days_between('members.last_purchase_date', 'members.snapshot_date') }}
            as days_since_last_purchase,
        exists (
            select 1 from referrals
            where referrals.customer_id = members.customer_id
                and (members.is_reference_date
                    or referrals.signup_date <= members.snapshot_date)
        ) as has_referred
    from members

),

final as (

    select
        cast(derived.snapshot_date as date) as snapshot_date,
        cast(derived.customer_id as string) as customer_id,
        cast(derived.is_reference_date as boolean) as is_reference_date,
        cast({{ rfm_segment('rfm.r_score', 'rfm.f_score') }} as string) as rfm_segment,
        cast(
            case
                when derived.is_reference_date then customer_value.value_quadrant
                {%- if previous is not none %}
                else previous_snapshots.value_quadrant
                {%- endif %}
            end
            as string
        ) as value_quadrant,
        cast(
            {{ lifecycle_stage(
                'coalesce(derived.purchases, 0)',
                'derived.days_since_last_purchase',
                'derived.tenure_days',
                'derived.has_referred'
            ) }}
            as string
        ) as lifecycle_stage,
        cast({{ membership_tier('derived.trailing_12m_spend') }} as string) as tier
    from derived
    left join rfm
        on rfm.snapshot_date = derived.snapshot_date
        and rfm.customer_id = derived.customer_id
    left join customer_value
        on customer_value.customer_id = derived.customer_id
    {%- if previous is not none %}
    left join previous_snapshots
        on previous_snapshots.snapshot_date = derived.snapshot_date
        and previous_snapshots.customer_id = derived.customer_id
    {%- endif %}

)

select * from final
