-- One row per order (latest version) with the customer it belongs to: the order's own
-- customer_id, else the customer of the guest e-mail, else of the guest phone.
with

orders as (

    select * from {{ ref('stg_orders__orders') }}

),

identifiers as (

    select * from {{ ref('int_customer_identifiers__resolved') }}

),

keyed as (

    select
        *,
        {{ normalise_email('guest_email') }} as guest_email_key,
        {{ normalise_phone('guest_phone') }} as guest_phone_key
    from orders

),

matched as (

    select
        keyed.*,
        by_email.customer_id as email_customer_id,
        by_phone.customer_id as phone_customer_id,
        coalesce(by_email.is_ambiguous, false)
            or coalesce(by_phone.is_ambiguous, false) as has_ambiguous_identifier
    from keyed
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier = keyed.guest_email_key
    left join identifiers as by_phone
        on by_phone.identifier_type = 'phone'
        and by_phone.identifier = keyed.guest_phone_key

),

final as (

    select
        * exclude (customer_id, email_customer_id, phone_customer_id),
        customer_id as source_customer_id,
        coalesce(customer_id, email_customer_id, phone_customer_id) as customer_id,
        case
            when customer_id is not null then 'customer_id'
            when email_customer_id is not null then 'email'
            when phone_customer_id is not null then 'phone'
            else 'unmatched'
        end as match_method
    from matched

)

select * from final
