-- One row per social post with a sentiment score in [-1, 1]: from the star rating where there
-- is one (the author's own verdict), else from the text model (ml.text_sentiment, on the same
-- scale); its label and the complaint and praise themes the text names.
with

posts as (

    select * from {{ ref('int_posts__matched') }}

),

text_sentiment as (

    select * from {{ ref('stg_ml__text_sentiment') }}
    where text_kind = 'post'

),

joined as (

    select
        posts.*,
        text_sentiment.sentiment_score as text_sentiment_score,
        text_sentiment.scoring_method,
        coalesce(text_sentiment.complaint_themes, {{ list_of([]) }}) as complaint_themes,
        coalesce(text_sentiment.praise_themes, {{ list_of([]) }}) as praise_themes
    from posts
    left join text_sentiment
        on text_sentiment.source_id = posts.post_id
        and text_sentiment.text_hash = md5(posts.post_text)

),

scored as (

    select
        * except (scoring_method),
        case
            when rating between 1 and 5 then {{ rating_sentiment_score('rating') }}
            else text_sentiment_score
        end as sentiment_score,
        case
            when rating between 1 and 5 then 'rating'
            else coalesce(scoring_method, 'unscored')
        end as sentiment_method
    from joined

),

final as (

    select
        *,
        {{ sentiment_label('sentiment_score') }} as sentiment_label
    from scored

)

select * from final
