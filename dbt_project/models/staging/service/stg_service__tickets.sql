-- The base table holds each key's latest version already (deduplicated once per delivery).
with

latest as (

    select * from {{ ref('base_service__tickets') }}

),

final as (

    select
        ticket_id,
        {{ unless_erased("nullif(trim(customer_id), '')") }} as customer_id,
        contact_phone,
        contact_email,
        order_id,
        channel as ticket_channel,
        category as ticket_category,
        is_complaint,
        severity,
        status as ticket_status,
        opened_at,
        first_response_at,
        resolved_at,
        coalesce(compensation_amount, 0) as compensation_amount,
        description,
        updated_at,
        _partition_date as delivered_on

    from latest

)

select * from final
