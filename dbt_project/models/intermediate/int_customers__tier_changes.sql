-- One row per change of a customer's CRM membership tier, from every delivered version of the
-- CRM row (staging keeps only the latest, which cannot show a change). Only customers still in
-- CRM staging, so an erased customer's history goes with them.
with

versions as (

    select * from {{ source('crm', 'customers') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

-- One version per customer and updated_at: a re-sent day delivers the same version again.
distinct_versions as (

    select
        trim(customer_id) as customer_id,
        updated_at,
        membership_tier
    from versions
    {{ qualify_latest_version(['trim(customer_id)', 'updated_at']) }}

),

sequenced as (

    select
        customer_id,
        updated_at,
        membership_tier as to_tier,
        lag(membership_tier) over (partition by customer_id order by updated_at nulls last)
            as from_tier
    from distinct_versions

),

final as (

    select
        sequenced.customer_id,
        sequenced.updated_at as changed_at,
        cast(sequenced.updated_at as date) as changed_on,
        sequenced.from_tier,
        sequenced.to_tier,
        {{ tier_rank('sequenced.to_tier') }} > {{ tier_rank('sequenced.from_tier') }}
            as is_upgrade
    from sequenced
    where sequenced.from_tier is distinct from sequenced.to_tier
        and sequenced.from_tier is not null
        and sequenced.to_tier is not null
        and sequenced.customer_id in (select customers.customer_id from customers)

)

select * from final
