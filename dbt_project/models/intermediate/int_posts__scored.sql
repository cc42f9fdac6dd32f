-- One row per social post with a sentiment score in [-1, 1]: from the star rating where there
-- is one, else from the placeholder keyword lexicon (to be replaced by the ML sentiment model).
with

posts as (

    select * from {{ ref('int_posts__matched') }}

),

lexicon_hits as (

    select
        *,
        {{ sentiment_hits('post_text', 'positive') }} as positive_hits,
        {{ sentiment_hits('post_text', 'negative') }} as negative_hits
    from posts

),

final as (

    select
        *,
        case
            when rating between 1 and 5 then {{ rating_sentiment_score('rating') }}
            else {{ lexicon_sentiment_score('positive_hits', 'negative_hits') }}
        end as sentiment_score,
        case
            when rating between 1 and 5 then 'rating'
            else 'lexicon'
        end as sentiment_method
    from lexicon_hits

)

select * from final
