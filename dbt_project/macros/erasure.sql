{#- Right to be forgotten: the customers with an `erasure` row in the consent ledger.
    CRM staging drops them; other sources keep their rows (revenue stays in the KPIs) but lose
    the link, so nothing in a mart points at an erased customer. -#}
{% macro erased_customer_ids() -%}
    (select customer_id from {{ ref('stg_governance__suppressions') }} where is_erasure)
{%- endmacro %}

{#- `column` (a customer id), or null when that customer was erased. -#}
{% macro unless_erased(column) -%}
    case when {{ column }} in {{ erased_customer_ids() }} then null else {{ column }} end
{%- endmacro %}
