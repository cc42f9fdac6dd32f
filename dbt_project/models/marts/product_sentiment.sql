-- One row per catalogue product: what posts and reviews about it say, as of the reference date.
with

products as (

    select * from {{ ref('stg_orders__products') }}

),

posts as (

    select * from {{ ref('int_posts__scored') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

posts_in_scope as (

    select posts.*
    from posts
    cross join reference
    where posts.product_id is not null
        and cast(posts.posted_at as date) <= reference.reference_date

),

post_metrics as (

    select
        product_id,
        count(*) as posts,
        count(*) filter (where rating between 1 and 5) as reviews,
        avg(rating) filter (where rating between 1 and 5) as avg_rating,
        -- Decimal, not double: an exact sum keeps re-runs identical whatever the threading.
        avg(cast(sentiment_score as decimal(9, 6))) as avg_sentiment_score,
        count(*) filter (where sentiment_label = 'negative') as negative_posts,
        count(sentiment_label) as labelled_posts,
        max(posted_at) as last_posted_at
    from posts_in_scope
    group by all

),

theme_mentions as (

    select product_id, {{ unnest_list('complaint_themes') }} as theme
    from posts_in_scope

),

theme_counts as (

    select product_id, theme, count(*) as mentions
    from theme_mentions
    group by all

),

ranked_themes as (

    select *
    from theme_counts
    qualify row_number() over (partition by product_id order by mentions desc, theme nulls last)
        <= 3

),

top_themes as (

    select
        product_id,
        {{ ordered_string_agg('theme', ', ', 'mentions desc, theme nulls last') }}
            as top_complaint_themes
    from ranked_themes
    group by all

),

final as (

    select
        cast(products.product_id as string) as product_id,
        cast(products.product_name as string) as product_name,
        cast(products.category as string) as category,
        cast(products.subcategory as string) as subcategory,
        cast(products.product_status as string) as product_status,
        cast(coalesce(post_metrics.posts, 0) as bigint) as posts,
        cast(coalesce(post_metrics.reviews, 0) as bigint) as reviews,
        cast(post_metrics.avg_rating as double) as avg_rating,
        cast(post_metrics.avg_sentiment_score as double) as avg_sentiment_score,
        cast(coalesce(post_metrics.negative_posts, 0) as bigint) as negative_posts,
        cast(
            case
                when post_metrics.labelled_posts > 0
                    then post_metrics.negative_posts / post_metrics.labelled_posts
            end
            as double
        ) as negative_share,
        cast(top_themes.top_complaint_themes as string) as top_complaint_themes,
        cast(post_metrics.last_posted_at as timestamp) as last_posted_at
    from products
    left join post_metrics
        on post_metrics.product_id = products.product_id
    left join top_themes
        on top_themes.product_id = products.product_id

)

select * from final
