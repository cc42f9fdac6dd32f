{#- Score in [-1, 1] from a 1-5 star rating: 1 -> -1, 3 -> 0, 5 -> 1. The text model
    (ml/sentiment.py) scores texts on the same scale: its expected rating. -#}
{% macro rating_sentiment_score(rating) -%}
    (cast({{ rating }} as double) - 3) / 2
{%- endmacro %}

{#- negative, neutral or positive for a score in [-1, 1]: the rating rounded, 1-2 stars
    negative, 3 neutral, 4-5 positive (thresholds as in ml/sentiment.py). -#}
{% macro sentiment_label(score) -%}
    case
        when {{ score }} is null then null
        when {{ score }} <= -0.25 then 'negative'
        when {{ score }} >= 0.25 then 'positive'
        else 'neutral'
    end
{%- endmacro %}

{#- A text with personal details masked, for examples shown in marts: e-mail addresses, web
    addresses, @handles and runs of 5 or more digits (phones, order numbers). -#}
{% macro mask_personal_details(text) -%}
    {%- set emails = regexp_replace_all(text, '[^\s@]+@[^\s@]+\.[A-Za-z]+', '<email>') -%}
    {%- set links = regexp_replace_all(emails, 'https?://\S+', '<link>') -%}
    {%- set handles = regexp_replace_all(links, '@[^\s@，。,]+', '@<handle>') -%}
    {{ regexp_replace_all(handles, '[0-9][0-9 -]{3,}[0-9]', '<number>') }}
{%- endmacro %}
