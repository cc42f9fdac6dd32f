-- One row per resolved customer with a social post on or before the reference date: posts,
-- average star rating, average and latest sentiment, and posts read as negative.
with

posts as (

    select * from {{ ref('int_posts__scored') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

final as (

    select
        posts.customer_id,
        count(*) as posts,
        avg(posts.rating) as avg_rating,
        -- Decimal, not double: an exact sum keeps re-runs identical whatever the threading.
        avg(cast(posts.sentiment_score as decimal(9, 6))) as avg_sentiment_score,
        max_by(posts.sentiment_score, (posts.posted_at, posts.post_id))
            filter (where posts.sentiment_score is not null) as last_sentiment_score,
        count(*) filter (where posts.sentiment_label = 'negative') as negative_posts
    from posts
    cross join reference
    where posts.customer_id is not null
        and cast(posts.posted_at as date) <= reference.reference_date
    group by all

)

select * from final
