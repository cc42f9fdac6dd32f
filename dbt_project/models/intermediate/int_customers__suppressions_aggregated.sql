-- One row per customer in the consent ledger who is not erased: which opt-outs the ledger
-- holds, whatever the latest CRM row says.
with

suppressions as (

    select * from {{ ref('stg_governance__suppressions') }}

),

final as (

    select
        customer_id,
        bool_or(channel = 'all') as has_opted_out,
        min(effective_at) filter (where channel = 'all') as opted_out_at,
        {%- for channel in ['email', 'sms', 'wechat', 'phone'] %}
        bool_or(channel = '{{ channel }}') as {{ channel }}_opted_out{{ ',' if not loop.last }}
        {%- endfor %}
    from suppressions
    where customer_id not in {{ erased_customer_ids() }}
    group by all

)

select * from final
