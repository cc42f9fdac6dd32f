{#- PLACEHOLDER sentiment until the ML sentiment model replaces it: a tiny Chinese + English
    keyword lexicon. The score is (positive hits - negative hits) / all hits in [-1, 1], 0 when
    no keyword occurs. Negative phrases are counted first and removed from the text, so that
    不满意 / "not good" do not also count as 满意 / "good". -#}

{% macro sentiment_lexicon(polarity) -%}
    {%- set words = {
        'negative': [
            '不满意', '不推荐', '不好', '不值', '差评', '失望', '太差', '很差', '质量差', '退货',
            '投诉', '垃圾', '太贵', '坏了', '破损', '慢',
            'not good', 'not recommend', 'disappoint', 'terrible', 'awful', 'broken', 'poor',
            'refund', 'expensive', 'worst', 'slow', 'bad',
        ],
        'positive': [
            '满意', '推荐', '喜欢', '不错', '好用', '很好', '质量好', '划算', '值得', '超赞',
            '回购', '棒', '赞', '好',
            'excellent', 'recommend', 'perfect', 'amazing', 'great', 'happy', 'love', 'good',
            'nice',
        ],
    } -%}
    {{ return(words[polarity]) }}
{%- endmacro %}

{#- Number of lexicon hits of one polarity in `text_col`. -#}
{% macro sentiment_hits(text_col, polarity) -%}
    {%- set negative_pattern = sentiment_lexicon('negative') | join('|') -%}
    {%- set lowered = "lower(coalesce(" ~ text_col ~ ", ''))" -%}
    {%- if polarity == 'negative' -%}
        len(regexp_extract_all({{ lowered }}, '{{ negative_pattern }}'))
    {%- else -%}
        len(regexp_extract_all(
            regexp_replace({{ lowered }}, '{{ negative_pattern }}', ' ', 'g'),
            '{{ sentiment_lexicon('positive') | join('|') }}'
        ))
    {%- endif -%}
{%- endmacro %}

{#- Score in [-1, 1] from the hit counts; 0 when nothing was hit. -#}
{% macro lexicon_sentiment_score(positive_hits, negative_hits) -%}
    case
        when {{ positive_hits }} + {{ negative_hits }} = 0 then 0.0
        else cast({{ positive_hits }} - {{ negative_hits }} as double)
            / ({{ positive_hits }} + {{ negative_hits }})
    end
{%- endmacro %}

{#- Score in [-1, 1] from a 1-5 star rating: 1 -> -1, 3 -> 0, 5 -> 1. -#}
{% macro rating_sentiment_score(rating) -%}
    (cast({{ rating }} as double) - 3) / 2
{%- endmacro %}
