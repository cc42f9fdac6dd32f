{#- Normalisation of the identifiers used to match records across sources. Both sides of a
    match must go through the same macro. Empty results become null so they never match. -#}

{#- E-mail: trimmed and lower-cased. Typos are not corrected: a typo is a non-match. -#}
{% macro normalise_email(col) -%}
    nullif(lower(trim({{ col }})), '')
{%- endmacro %}

{#- Phone: digits only, with a leading China country code (86 or 0086) removed from numbers
    that are a country code plus 11 digits, so that +86 138-0013-8000, 0086 13800138000 and
    13800138000 all compare as 13800138000. -#}
{% macro normalise_phone(col) -%}
    nullif(
        case
            when length({{ digits_only(col) }}) = 13
                and {{ digits_only(col) }} like '86%'
                then substr({{ digits_only(col) }}, 3)
            when length({{ digits_only(col) }}) = 15
                and {{ digits_only(col) }} like '0086%'
                then substr({{ digits_only(col) }}, 5)
            else {{ digits_only(col) }}
        end,
        ''
    )
{%- endmacro %}

{#- The digits of `col`, in order. -#}
{% macro digits_only(col) -%}
    {{ regexp_replace_all(col, '[^0-9]', '') }}
{%- endmacro %}

{#- Social handle: trimmed, lower-cased, without a leading @. -#}
{% macro normalise_handle(col) -%}
    nullif(trim(leading '@' from lower(trim({{ col }}))), '')
{%- endmacro %}

{#- Platform names compare lower-cased and trimmed. -#}
{% macro normalise_platform(col) -%}
    nullif(lower(trim({{ col }})), '')
{%- endmacro %}
