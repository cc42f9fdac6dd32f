{#- The CTEs `keyed`, `matched` and `final` that tie each row of `records` to a customer: the
    row's own customer_id, else the customer of the first identifier (in the order given) that
    resolves to exactly one customer in the `identifiers` CTE (int_customer_identifiers__resolved).
    `identifier_columns` lists (identifier_type, column) pairs, e.g. [('email', 'guest_email')];
    types are 'email' or 'phone'. Adds source_customer_id, match_method and
    has_ambiguous_identifier. -#}
{% macro match_to_customer(records, identifier_columns) -%}
{%- set normalisers = {'email': normalise_email, 'phone': normalise_phone} -%}
keyed as (

    select
        *,
        {%- for type, column in identifier_columns %}
        {{ normalisers[type](column) }} as {{ type }}_key{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ records }}

),

matched as (

    select
        keyed.*,
        {%- for type, column in identifier_columns %}
        by_{{ type }}.customer_id as {{ type }}_customer_id,
        {%- endfor %}
        {% for type, column in identifier_columns -%}
        coalesce(by_{{ type }}.is_ambiguous, false){{ ' or ' if not loop.last }}
        {%- endfor %} as has_ambiguous_identifier
    from keyed
    {%- for type, column in identifier_columns %}
    left join identifiers as by_{{ type }}
        on by_{{ type }}.identifier_type = '{{ type }}'
        and by_{{ type }}.identifier = keyed.{{ type }}_key
    {%- endfor %}

),

final as (

    select
        * except (
            customer_id,
            {%- for type, column in identifier_columns %}
            {{ type }}_key, {{ type }}_customer_id{{ ',' if not loop.last }}
            {%- endfor %}
        ),
        customer_id as source_customer_id,
        coalesce(
            customer_id,
            {%- for type, column in identifier_columns %}
            {{ type }}_customer_id{{ ',' if not loop.last }}
            {%- endfor %}
        ) as customer_id,
        case
            when customer_id is not null then 'customer_id'
            {%- for type, column in identifier_columns %}
            when {{ type }}_customer_id is not null then '{{ type }}'
            {%- endfor %}
            else 'unmatched'
        end as match_method
    from matched

)
{%- endmacro %}
