-- One row per complaint theme and month in which customers' texts (posts, ticket descriptions,
-- survey comments) named it, up to the reference date.
{#- An example phrasing must have been written by this many different people, so that it can
    never point at one customer. -#}
{% set min_example_authors = 3 %}
with

posts as (

    select * from {{ ref('int_posts__scored') }}

),

service_texts as (

    select * from {{ ref('int_service_texts__scored') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

texts as (

    select
        'post' as text_kind,
        customer_id,
        author_handle_key as author_key,
        posted_at as written_at,
        post_text as text_content,
        sentiment_score,
        sentiment_label,
        complaint_themes
    from posts
    union all
    select
        text_kind,
        customer_id,
        author_key,
        written_at,
        text_content,
        sentiment_score,
        sentiment_label,
        complaint_themes
    from service_texts

),

texts_in_scope as (

    select
        texts.*,
        cast(date_trunc('month', texts.written_at) as date) as period_start,
        {{ mask_personal_details('texts.text_content') }} as phrasing
    from texts
    cross join reference
    where cast(texts.written_at as date) <= reference.reference_date

),

period_totals as (

    select period_start, count(*) as period_texts
    from texts_in_scope
    group by all

),

theme_texts as (

    select * except (complaint_themes), {{ unnest_list('complaint_themes') }} as theme
    from texts_in_scope

),

theme_metrics as (

    select
        theme,
        period_start,
        count(*) as texts,
        count(*) filter (where text_kind = 'post') as posts,
        count(*) filter (where text_kind = 'ticket') as ticket_texts,
        count(*) filter (where text_kind = 'survey_comment') as survey_comments,
        count(distinct customer_id) as customers,
        count(*) filter (where sentiment_label = 'negative') as negative_texts,
        count(sentiment_label) as labelled_texts,
        avg(cast(sentiment_score as decimal(9, 6))) as avg_sentiment_score
    from theme_texts
    group by all

),

shared_phrasings as (

    select phrasing
    from texts_in_scope
    group by all
    having count(distinct author_key) >= {{ min_example_authors }}

),

phrasing_counts as (

    select theme, period_start, phrasing, count(*) as uses
    from theme_texts
    inner join shared_phrasings using (phrasing)
    group by all

),

month_examples as (

    select theme, period_start, phrasing as example_phrasing
    from phrasing_counts
    qualify row_number() over (
        partition by theme, period_start order by uses desc, phrasing nulls last
    ) = 1

),

-- For months where no wording of the theme is shared enough: its most used one overall.
theme_examples as (

    select theme, phrasing as example_phrasing
    from (
        select theme, phrasing, sum(uses) as uses
        from phrasing_counts
        group by theme, phrasing
    )
    qualify row_number() over (partition by theme order by uses desc, phrasing nulls last) = 1

),

final as (

    select
        cast(theme_metrics.theme as string) as theme,
        cast(theme_metrics.period_start as date) as period_start,
        cast(theme_metrics.texts as bigint) as texts,
        cast(theme_metrics.posts as bigint) as posts,
        cast(theme_metrics.ticket_texts as bigint) as ticket_texts,
        cast(theme_metrics.survey_comments as bigint) as survey_comments,
        cast(theme_metrics.customers as bigint) as customers,
        cast(theme_metrics.negative_texts as bigint) as negative_texts,
        cast(
            case
                when theme_metrics.labelled_texts > 0
                    then theme_metrics.negative_texts / theme_metrics.labelled_texts
            end
            as double
        ) as negative_share,
        cast(theme_metrics.texts / period_totals.period_texts as double) as share_of_texts,
        cast(theme_metrics.avg_sentiment_score as double) as avg_sentiment_score,
        cast(
            coalesce(month_examples.example_phrasing, theme_examples.example_phrasing)
            as string
        ) as example_phrasing
    from theme_metrics
    inner join period_totals
        on period_totals.period_start = theme_metrics.period_start
    left join month_examples
        on month_examples.theme = theme_metrics.theme
        and month_examples.period_start = theme_metrics.period_start
    left join theme_examples
        on theme_examples.theme = theme_metrics.theme

)

select * from final
