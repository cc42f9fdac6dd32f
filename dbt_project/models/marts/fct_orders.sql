-- depends_on: {{ ref('int_customer_identifiers__unioned') }}
-- depends_on: {{ ref('stg_crm__contacts') }}
-- depends_on: {{ ref('base_orders__orders') }}
{{ incremental_by_key('order_id') }}

-- Incremental window: the orders whose latest version was delivered in [min_date, max_date].
-- Staging already picked each order's latest version over all deliveries, so re-running an
-- old day never brings back an older state of an order that changed later, and re-running a
-- day replaces exactly the same orders (idempotent).
-- Orders built while their customer_id was not (yet) in the CRM are rebuilt by the first run
-- after the CRM row arrives, so customer_in_crm never stays stale; guest orders are matched
-- again by the first run after a CRM change that can move their match (see `rematched`), and
-- marked `rematched_for` that run's max_date so that the models fed by fct_orders recompute
-- their days.

{%- set refresh_unknown_customers = is_incremental() and 'customer_in_crm' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | list
) %}

with

crm_customers as (

    select customer_id from {{ ref('stg_crm__customers') }}

),

{% if is_incremental() -%}
-- The customers delivered in the window, as CRM customers or as an account's contacts.
window_customers as (

    select customer_id from {{ ref('stg_crm__customers') }}
    {{ in_partition_window('delivered_on') }}
    union all
    select customer_id from {{ ref('stg_crm__contacts') }}
    {{ in_partition_window('delivered_on') }}

),

-- Their e-mails and phones now, shared ones included.
window_identifiers as (

    select identifier_type, identifier
    from {{ ref('int_customer_identifiers__unioned') }}
    where customer_id in (select customer_id from window_customers)

),

-- Guest orders whose match the window's CRM changes may move: those unmatched or matched
-- through an e-mail or phone one of those customers now gives (a guest who signed up later, an
-- identifier now shared by two), and those matched to one of them through an e-mail or phone
-- (which the customer may have changed).
match_candidates as (

    select order_id from {{ ref('base_orders__orders') }}
    where order_id in (select order_id from {{ this }} where match_method != 'customer_id')
        and (
            {{ normalise_email('guest_email') }} in (
                select identifier from window_identifiers where identifier_type = 'email'
            )
            or {{ normalise_phone('guest_phone') }} in (
                select identifier from window_identifiers where identifier_type = 'phone'
            )
        )
    union
    select order_id from {{ this }}
    where match_method in ('email', 'phone')
        and customer_id in (select customer_id from window_customers)

),

-- Those whose match did move, rebuilt whatever day they were delivered (a customer's every
-- update would otherwise recompute the days of all their guest orders).
rematched as (

    select matched.order_id
    from {{ ref('int_orders__matched') }} as matched
    inner join {{ this }} as stored
        on stored.order_id = matched.order_id
    where matched.order_id in (select order_id from match_candidates)
        and (
            matched.customer_id is distinct from stored.customer_id
            or matched.match_method is distinct from stored.match_method
        )

),

{% endif -%}
orders as (

    select * from {{ ref('int_orders__matched') }}
    {{ in_partition_window('delivered_on') }}
    {%- if refresh_unknown_customers %}
    or order_id in (
        select order_id from {{ this }}
        where not customer_in_crm
            and customer_id in (select customer_id from crm_customers)
    )
    {%- endif %}
    {%- if is_incremental() %}
    or order_id in (select order_id from rematched)
    {%- endif %}

),

order_lines as (

    select * from {{ ref('stg_orders__order_lines') }}

),

line_totals as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units
    from order_lines
    group by all

),

classified as (

    select
        orders.*,
        orders.order_status != 'cancelled' as is_purchase,
        orders.order_status = 'refunded' or orders.refund_amount > 0 as has_refund,
        crm_customers.customer_id is not null as customer_in_crm,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units, 0) as units
    from orders
    left join line_totals
        on line_totals.order_id = orders.order_id
    left join crm_customers
        on crm_customers.customer_id = orders.customer_id

),

final as (

    select
        cast(order_id as string) as order_id,
        cast(customer_id as string) as customer_id,
        cast(source_customer_id as string) as source_customer_id,
        cast(match_method as string) as match_method,
        cast(customer_in_crm as boolean) as customer_in_crm,
        cast(ordered_at as timestamp) as ordered_at,
        cast(order_date as date) as order_date,
        cast(order_status as string) as order_status,
        cast(channel as string) as channel,
        cast(currency as string) as currency,
        cast(is_purchase as boolean) as is_purchase,
        cast(has_refund as boolean) as has_refund,
        cast(items_amount as decimal(18, 2)) as items_amount,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(shipping_amount as decimal(18, 2)) as shipping_amount,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(refund_amount as decimal(18, 2)) as refund_amount,
        cast(
            case
                when is_purchase then greatest(total_amount - refund_amount, 0)
                else 0
            end
            as decimal(18, 2)
        ) as net_revenue,
        cast(line_count as bigint) as line_count,
        cast(units as bigint) as units,
        cast(updated_at as timestamp) as updated_at,
        cast(delivered_on as date) as delivered_on,
        cast(
            {%- if is_incremental() %}
            case
                when order_id in (select order_id from rematched)
                    then {{ partition_window_end() }}
            end
            {%- else %} null
            {%- endif %} as date
        ) as rematched_for
    from classified

)

select * from final
