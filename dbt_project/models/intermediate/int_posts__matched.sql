-- One row per social post with the customer it belongs to: the platform-linked customer_id,
-- else the CRM customer who lists the author's handle on that platform.
with

posts as (

    select * from {{ ref('stg_social__posts') }}

),

identifiers as (

    select * from {{ ref('int_customer_identifiers__resolved') }}

),

keyed as (

    select
        *,
        {{ normalise_platform('platform') }} || ':' || {{ normalise_handle('author_handle') }}
            as author_handle_key
    from posts

),

matched as (

    select
        keyed.*,
        by_handle.customer_id as handle_customer_id,
        coalesce(by_handle.is_ambiguous, false) as has_ambiguous_identifier
    from keyed
    left join identifiers as by_handle
        on by_handle.identifier_type = 'social_handle'
        and by_handle.identifier = keyed.author_handle_key

),

final as (

    select
        * except (customer_id, handle_customer_id),
        customer_id as source_customer_id,
        coalesce(customer_id, handle_customer_id) as customer_id,
        case
            when customer_id is not null then 'customer_id'
            when handle_customer_id is not null then 'social_handle'
            else 'unmatched'
        end as match_method
    from matched

)

select * from final
