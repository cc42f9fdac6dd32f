{#- Rank of a membership tier: standard < silver < gold (unknown tiers rank lowest). -#}
{% macro tier_rank(tier) -%}
    case {{ tier }} when 'gold' then 3 when 'silver' then 2 when 'standard' then 1 else 0 end
{%- endmacro %}

{#- True when `day` is the yearly return of `date_column` (birthday, sign-up date): the same
    month and day, and 29 February falls on 28 February in years without it. -#}
{% macro is_yearly_return(date_column, day) -%}
    (
        (month({{ date_column }}) = month({{ day }}) and day({{ date_column }}) = day({{ day }}))
        or (
            month({{ date_column }}) = 2 and day({{ date_column }}) = 29
            and month({{ day }}) = 2 and day({{ day }}) = 28
            and day(last_day(make_date(year({{ day }}), 2, 1))) = 28
        )
    )
{%- endmacro %}
