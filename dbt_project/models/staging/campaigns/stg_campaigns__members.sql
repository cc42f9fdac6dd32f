with

latest as (

    {{ latest_version_rows(source('campaigns', 'members'), ['campaign_id', 'trim(customer_id)'], 'updated_at') }}

),

final as (

    select
        md5(concat_ws('|', campaign_id, trim(customer_id))) as campaign_member_id,
        campaign_id,
        audience,
        trim(customer_id) as customer_id,
        assigned_on,
        holdout_group,
        channel,
        updated_at,
        _partition_date as delivered_on

    from latest
    -- An assignment of a forgotten customer is dropped: no mart may point at them.
    where trim(customer_id) not in {{ erased_customer_ids() }}

)

select * from final
