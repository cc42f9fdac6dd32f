with

latest as (

    {{ latest_version_rows(source('service', 'surveys'), ['survey_id'], 'answered_at') }}

),

final as (

    select
        survey_id,
        ticket_id,
        {{ unless_erased("nullif(trim(customer_id), '')") }} as customer_id,
        survey_type,
        answered_at,
        score,
        comment,
        _partition_date as delivered_on

    from latest

)

select * from final
