-- One row per order (latest version) with the customer it belongs to: the order's own
-- customer_id, else the customer of the guest e-mail, else of the guest phone.
with

orders as (

    select * from {{ ref('stg_orders__orders') }}

),

identifiers as (

    select * from {{ ref('int_customer_identifiers__resolved') }}

),

{{ match_to_customer('orders', [('email', 'guest_email'), ('phone', 'guest_phone')]) }}

select * from final
