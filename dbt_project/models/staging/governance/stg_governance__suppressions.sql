with

source as (

    select * from {{ source('governance', 'suppressions') }}

),

final as (

    select
        trim(customer_id) as customer_id,
        channel,
        reason,
        reason = 'erasure' as is_erasure,
        effective_at,
        recorded_at,
        evidence

    from source

)

select * from final
