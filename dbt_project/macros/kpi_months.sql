{#- The first month of marts.kpi_monthly as of `reference_date` (SQL of a date): the month of
    the first purchase, complaint or survey answer on or before it. The model starts its months
    there, and an incremental run deletes the months before it after (a correction may empty
    the first month). -#}
{% macro first_kpi_month(reference_date) -%}
    (
        select cast(date_trunc('month', least(
            (
                select min(order_date) from {{ ref('int_customers__purchases_by_day') }}
                where purchases > 0
                    and customer_id is not null
                    and order_date <= {{ reference_date }}
            ),
            (
                select min(cast(opened_at as date)) from {{ ref('stg_service__tickets') }}
                where is_complaint and cast(opened_at as date) <= {{ reference_date }}
            ),
            (
                select min(cast(answered_at as date)) from {{ ref('stg_service__surveys') }}
                where cast(answered_at as date) <= {{ reference_date }}
            )
        )) as date)
    )
{%- endmacro %}

{#- The post-hook of marts.kpi_monthly: an incremental run keeps the months it does not
    recompute, so it deletes those no longer between the first month and the reference date's. -#}
{% macro delete_months_outside_kpi_range(relation) -%}
    {%- set reference_date -%}
        (select reference_date from ({{ selected_reference_date() }}))
    {%- endset -%}
    delete from {{ relation }}
    where month not between {{ first_kpi_month(reference_date) }}
        and date_trunc('month', {{ reference_date }})
{%- endmacro %}
