-- One row per normalised identifier: the customer it belongs to when it belongs to exactly
-- one customer. An identifier shared by several customers (a family e-mail, a shared phone)
-- is ambiguous: customer_id is null, so nothing is matched through it.
with

identifiers as (

    select * from {{ ref('int_customer_identifiers__unioned') }}

),

counted as (

    select
        identifier_type,
        identifier,
        count(distinct customer_id) as customer_count,
        min(customer_id) as any_customer_id
    from identifiers
    group by all

),

final as (

    select
        identifier_type,
        identifier,
        customer_count,
        customer_count > 1 as is_ambiguous,
        case when customer_count = 1 then any_customer_id end as customer_id
    from counted

)

select * from final
