{#- RFM segment from the classic R x F grid (scores 1-5, 5 = best):

        F=1             F=2             F=3             F=4         F=5
    R=5 new             potential_loy.  potential_loy.  champions   champions
    R=4 promising       potential_loy.  potential_loy.  loyal       loyal
    R=3 about_to_sleep  about_to_sleep  need_attention  loyal       loyal
    R=2 hibernating     hibernating     at_risk         at_risk     cant_lose
    R=1 lost            lost            at_risk         at_risk     cant_lose
-#}
{% macro rfm_segment(r_score, f_score) -%}
    case
        when {{ r_score }} = 5 and {{ f_score }} >= 4 then 'champions'
        when {{ r_score }} in (3, 4) and {{ f_score }} >= 4 then 'loyal'
        when {{ r_score }} in (4, 5) and {{ f_score }} in (2, 3) then 'potential_loyalist'
        when {{ r_score }} = 5 and {{ f_score }} = 1 then 'new'
        when {{ r_score }} = 4 and {{ f_score }} = 1 then 'promising'
        when {{ r_score }} = 3 and {{ f_score }} = 3 then 'need_attention'
        when {{ r_score }} = 3 and {{ f_score }} <= 2 then 'about_to_sleep'
        when {{ r_score }} <= 2 and {{ f_score }} = 5 then 'cant_lose'
        when {{ r_score }} <= 2 and {{ f_score }} in (3, 4) then 'at_risk'
        when {{ r_score }} = 2 and {{ f_score }} <= 2 then 'hibernating'
        when {{ r_score }} = 1 and {{ f_score }} <= 2 then 'lost'
    end
{%- endmacro %}

{#- The business's four value classes. "High" is a score of 4-5 (top two quintiles),
    "low" a score of 1-2 (bottom two):
      high_value  recent, frequent, high spend      r >= 4, f >= 4, m >= 4
      potential   recent, infrequent, high spend    r >= 4, f <= 2, m >= 4
      low_value   older, infrequent, low spend      r <= 2, f <= 2, m <= 2
      general     everything else (older or middling customers)
-#}
{% macro rfm_value_class(r_score, f_score, m_score) -%}
    case
        when {{ r_score }} >= 4 and {{ f_score }} >= 4 and {{ m_score }} >= 4 then 'high_value'
        when {{ r_score }} >= 4 and {{ f_score }} <= 2 and {{ m_score }} >= 4 then 'potential'
        when {{ r_score }} <= 2 and {{ f_score }} <= 2 and {{ m_score }} <= 2 then 'low_value'
        else 'general'
    end
{%- endmacro %}

{#- Quintile score 1-5 of `metric` (ascending: the last fifth scores 5). Customers with equal
    values are ordered by md5(customer_id): a stable, arbitrary order that uses no other metric,
    so every score holds a fifth of the customers (all five occur from five customers on) and a
    score never mixes in the other two metrics. `partition_by` ranks within each group of rows
    (one per snapshot date in segment_history) instead of over the whole table. -#}
{% macro quintile_score(metric, partition_by=none) -%}
    cast(ntile(5) over (
        {%- if partition_by %}partition by {{ partition_by }} {% endif -%}
        order by {{ metric }} nulls last, md5(customer_id)
    ) as integer)
{%- endmacro %}
