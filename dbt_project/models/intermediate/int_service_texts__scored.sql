-- One row per ticket description and per survey comment (latest versions) with the customer it
-- belongs to, when it was written, and its sentiment and themes from the text model.
with

tickets as (

    select * from {{ ref('int_tickets__matched') }}

),

surveys as (

    select * from {{ ref('stg_service__surveys') }}

),

text_sentiment as (

    select * from {{ ref('stg_ml__text_sentiment') }}

),

ticket_texts as (

    select
        'ticket' as text_kind,
        ticket_id as source_id,
        customer_id,
        -- Who wrote it, for counting distinct authors (never shown).
        coalesce(customer_id, contact_email, contact_phone, ticket_id) as author_key,
        opened_at as written_at,
        description as text_content
    from tickets
    where nullif(trim(description), '') is not null

),

-- A survey answer belongs to its own customer_id, else to the customer of its ticket.
survey_texts as (

    select
        'survey_comment' as text_kind,
        surveys.survey_id as source_id,
        coalesce(surveys.customer_id, tickets.customer_id) as customer_id,
        coalesce(surveys.customer_id, tickets.customer_id, surveys.survey_id) as author_key,
        surveys.answered_at as written_at,
        surveys.comment as text_content
    from surveys
    left join tickets
        on tickets.ticket_id = surveys.ticket_id
    where nullif(trim(surveys.comment), '') is not null

),

service_texts as (

    select * from ticket_texts
    union all
    select * from survey_texts

),

final as (

    select
        service_texts.*,
        text_sentiment.sentiment_score,
        {{ sentiment_label('text_sentiment.sentiment_score') }} as sentiment_label,
        coalesce(text_sentiment.complaint_themes, {{ list_of([]) }}) as complaint_themes,
        coalesce(text_sentiment.praise_themes, {{ list_of([]) }}) as praise_themes,
        coalesce(text_sentiment.scoring_method, 'unscored') as sentiment_method
    from service_texts
    left join text_sentiment
        on text_sentiment.text_kind = service_texts.text_kind
        and text_sentiment.source_id = service_texts.source_id
        and text_sentiment.text_hash = md5(service_texts.text_content)

)

select * from final
