with

source as (

    select * from {{ source('service', 'tickets') }}

),

latest as (

    select * from source
    {{ qualify_latest_version(['ticket_id'], 'updated_at') }}

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
