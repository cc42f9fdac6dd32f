-- A returned row is an active customer (lifecycle stage other than prospect and churned: a
-- purchase within `churned_after_days` of the reference date) without a value quadrant or a
-- persona although that model wrote scores. A model short of history writes none, and then
-- nobody has one. Reads only customer_segments and the model tables, so it runs with the
-- scored models and never before them.
{{ config(meta={'dagster': {'ref': {'name': 'customer_segments'}}}) }}

with

segments as (

    select * from {{ ref('customer_segments') }}

),

value_scores as (

    select count(*) as scored from {{ source('ml', 'customer_value') }}

),

persona_scores as (

    select count(*) as scored from {{ source('ml', 'customer_personas') }}

),

final as (

    select
        segments.customer_id,
        case
            when segments.value_quadrant is null and value_scores.scored > 0
                then 'no value quadrant'
            when segments.persona is null and persona_scores.scored > 0
                then 'no persona'
        end as problem
    from segments
    cross join value_scores
    cross join persona_scores
    where segments.lifecycle_stage not in ('prospect', 'churned')

)

select * from final
where problem is not null
