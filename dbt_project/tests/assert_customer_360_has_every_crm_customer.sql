-- A returned row is a CRM customer missing from customer_360, or a customer_360 row that is not
-- a CRM customer: customer_360 must hold exactly one row for every CRM customer.
-- Reads the raw source, not staging, so that customer_360 is the test's only model parent.
-- Erased customers (the consent ledger) are left out: an old delivery loaded again brings
-- their raw rows back until the ledger asset scrubs them, but never into customer_360.
{{ config(meta={'dagster': {'ref': {'name': 'customer_360'}}}) }}
with

crm as (

    select distinct customer_id from {{ source('crm', 'customers') }}
    where trim(customer_id) not in (
        select customer_id from {{ source('governance', 'suppressions') }}
        where reason = 'erasure'
    )

),

customer_360 as (

    select customer_id from {{ ref('customer_360') }}

),

final as (

    select
        coalesce(crm.customer_id, customer_360.customer_id) as customer_id,
        case
            when customer_360.customer_id is null then 'missing from customer_360'
            else 'not a CRM customer'
        end as problem
    from crm
    full outer join customer_360
        on customer_360.customer_id = crm.customer_id
    where crm.customer_id is null
        or customer_360.customer_id is null

)

select * from final
