with

orders as (

    select * from {{ ref('int_orders__matched') }}

),

tickets as (

    select * from {{ ref('int_tickets__matched') }}

),

posts as (

    select * from {{ ref('int_posts__matched') }}

),

matched_rows as (

    select 'orders' as source_entity, match_method, has_ambiguous_identifier from orders
    union all
    select 'tickets' as source_entity, match_method, has_ambiguous_identifier from tickets
    union all
    select 'posts' as source_entity, match_method, has_ambiguous_identifier from posts

),

entities as (

    select * from (values ('orders'), ('tickets'), ('posts')) as entities (source_entity)

),

counted as (

    select
        source_entity,
        count(*) as row_count,
        count(*) filter (where match_method = 'customer_id') as matched_customer_id,
        count(*) filter (where match_method = 'email') as matched_email,
        count(*) filter (where match_method = 'phone') as matched_phone,
        count(*) filter (where match_method = 'social_handle') as matched_social_handle,
        count(*) filter (where match_method = 'unmatched') as unmatched,
        count(*) filter (where match_method = 'unmatched' and has_ambiguous_identifier)
            as unmatched_ambiguous
    from matched_rows
    group by all

),

final as (

    select
        cast(entities.source_entity as string) as source_entity,
        cast(coalesce(counted.row_count, 0) as bigint) as row_count,
        cast(coalesce(counted.matched_customer_id, 0) as bigint) as matched_customer_id,
        cast(coalesce(counted.matched_email, 0) as bigint) as matched_email,
        cast(coalesce(counted.matched_phone, 0) as bigint) as matched_phone,
        cast(coalesce(counted.matched_social_handle, 0) as bigint) as matched_social_handle,
        cast(coalesce(counted.unmatched, 0) as bigint) as unmatched,
        cast(coalesce(counted.unmatched_ambiguous, 0) as bigint) as unmatched_ambiguous,
        cast(
            case
                when counted.row_count > 0
                    then (counted.row_count - counted.unmatched) / counted.row_count
            end
            as double
        ) as match_rate
    from entities
    left join counted
        on counted.source_entity = entities.source_entity

)

select * from final
