-- A returned row is a CRM customer without a row in audience_candidates, or a candidate that
-- is not a CRM customer (an erased or unknown customer): the audiences would miss the first and
-- must never reach the second. customer_segments stands for customer_360 (one row for each of
-- its customers) so that the test reads only scored models and runs after them.
{{ config(meta={'dagster': {'ref': {'name': 'audience_candidates'}}}) }}

with

customers as (

    select * from {{ ref('customer_segments') }}

),

candidates as (

    select * from {{ ref('audience_candidates') }}

),

final as (

    select
        coalesce(customers.customer_id, candidates.customer_id) as customer_id,
        case
            when candidates.customer_id is null then 'no candidate row'
            else 'candidate not in customer_360'
        end as problem
    from customers
    full outer join candidates
        on candidates.customer_id = customers.customer_id
    where customers.customer_id is null or candidates.customer_id is null

)

select * from final
