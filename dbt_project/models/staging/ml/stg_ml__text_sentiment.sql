with

source as (

    select * from {{ source('ml', 'text_sentiment') }}

),

final as (

    select
        text_kind,
        source_id,
        text_hash,
        sentiment_score,
        sentiment_label,
        complaint_themes,
        praise_themes,
        scoring_method,
        model_version

    from source

)

select * from final
