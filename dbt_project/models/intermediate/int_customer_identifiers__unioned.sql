-- Every identifier the CRM knows for a customer, normalised: the customer's own e-mail and
-- phone, the e-mail and phone of the business account's contacts, and each
-- `platform:handle` entry of social_handles.
with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

customer_emails as (

    select customer_id, 'email' as identifier_type, {{ normalise_email('email') }} as identifier
    from customers

),

customer_phones as (

    select customer_id, 'phone' as identifier_type, {{ normalise_phone('phone') }} as identifier
    from customers

),

contact_emails as (

    select customer_id, 'email' as identifier_type, {{ normalise_email('email') }} as identifier
    from contacts

),

contact_phones as (

    select customer_id, 'phone' as identifier_type, {{ normalise_phone('phone') }} as identifier
    from contacts

),

handle_entries as (

    select
        customer_id,
        {{ unnest_split('social_handles', ';') }} as handle_entry
    from customers
    where social_handles is not null

),

social_handles as (

    select
        customer_id,
        'social_handle' as identifier_type,
        {{ normalise_platform("split_part(handle_entry, ':', 1)") }}
            || ':'
            || {{ normalise_handle("substr(handle_entry, instr(handle_entry, ':') + 1)") }}
            as identifier
    from handle_entries
    where instr(handle_entry, ':') > 1

),

unioned as (

    select * from customer_emails
    union all
    select * from customer_phones
    union all
    select * from contact_emails
    union all
    select * from contact_phones
    union all
    select * from social_handles

),

final as (

    select distinct
        customer_id,
        identifier_type,
        identifier
    from unioned
    where identifier is not null
        and customer_id is not null

)

select * from final
