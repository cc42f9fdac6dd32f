with

latest as (

    {{ latest_version_rows(source('crm', 'customers'), ['customer_id'], 'updated_at') }}

),

-- Erased customers are scrubbed from the raw table; this also drops them when an old
-- delivery is loaded again.
remembered as (

    select * from latest
    where trim(customer_id) not in {{ erased_customer_ids() }}

),

final as (

    select
        trim(customer_id) as customer_id,
        customer_type,
        name as customer_name,
        email,
        phone,
        gender,
        birthday,
        city,
        region,
        occupation,
        signup_date,
        acquisition_channel,
        account_manager_id,
        membership_tier as crm_membership_tier,
        email_consent,
        sms_consent,
        wechat_consent,
        phone_consent,
        marketing_opt_out,
        opted_out_at,
        tags,
        social_handles,
        {{ unless_erased("nullif(trim(referred_by), '')") }} as referred_by_customer_id,
        revisit_interval_days,
        next_revisit_date,
        updated_at,
        _partition_date as delivered_on

    from remembered

)

select * from final
