-- One row per ticket (latest version) with the customer it belongs to: the ticket's own
-- customer_id, else the customer of the contact phone, else of the contact e-mail.
with

tickets as (

    select * from {{ ref('stg_service__tickets') }}

),

identifiers as (

    select * from {{ ref('int_customer_identifiers__resolved') }}

),

keyed as (

    select
        *,
        {{ normalise_phone('contact_phone') }} as contact_phone_key,
        {{ normalise_email('contact_email') }} as contact_email_key
    from tickets

),

matched as (

    select
        keyed.*,
        by_phone.customer_id as phone_customer_id,
        by_email.customer_id as email_customer_id,
        coalesce(by_phone.is_ambiguous, false)
            or coalesce(by_email.is_ambiguous, false) as has_ambiguous_identifier
    from keyed
    left join identifiers as by_phone
        on by_phone.identifier_type = 'phone'
        and by_phone.identifier = keyed.contact_phone_key
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier = keyed.contact_email_key

),

final as (

    select
        * exclude (customer_id, phone_customer_id, email_customer_id),
        customer_id as source_customer_id,
        coalesce(customer_id, phone_customer_id, email_customer_id) as customer_id,
        case
            when customer_id is not null then 'customer_id'
            when phone_customer_id is not null then 'phone'
            when email_customer_id is not null then 'email'
            else 'unmatched'
        end as match_method
    from matched

)

select * from final
