with

latest as (

    {{ latest_version_rows(source('crm', 'contacts'), ['contact_id'], 'updated_at') }}

),

final as (

    select
        contact_id,
        trim(customer_id) as customer_id,
        name as contact_name,
        email,
        phone,
        role as decision_role,
        title,
        updated_at,
        _partition_date as delivered_on

    from latest
    where trim(customer_id) not in {{ erased_customer_ids() }}

)

select * from final
