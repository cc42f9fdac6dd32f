-- One row per ticket (latest version) with the customer it belongs to: the ticket's own
-- customer_id, else the customer of the contact phone, else of the contact e-mail.
with

tickets as (

    select * from {{ ref('stg_service__tickets') }}

),

identifiers as (

    select * from {{ ref('int_customer_identifiers__resolved') }}

),

{{ match_to_customer('tickets', [('phone', 'contact_phone'), ('email', 'contact_email')]) }}

select * from final
