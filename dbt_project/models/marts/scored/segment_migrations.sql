-- One row per pair of consecutive snapshot dates of segment_history, segmentation dimension,
-- and value before and after: how many customers moved from one segment to another (or
-- stayed). Only customers present in both snapshots count, so the customers of a pair and
-- dimension add up to the customers the two snapshots share. A missing value (no purchase yet
-- for the RFM segment, not scored for the value quadrant) counts as `none`.
with

history as (

    select * from {{ ref('segment_history') }}

),

snapshot_pairs as (

    select
        snapshot_date as from_snapshot_date,
        lead(snapshot_date) over (order by snapshot_date) as to_snapshot_date
    from (select distinct snapshot_date from history)
    qualify to_snapshot_date is not null

),

paired as (

    select
        snapshot_pairs.from_snapshot_date,
        snapshot_pairs.to_snapshot_date,
        before.rfm_segment as from_rfm_segment,
        after.rfm_segment as to_rfm_segment,
        before.value_quadrant as from_value_quadrant,
        after.value_quadrant as to_value_quadrant,
        before.lifecycle_stage as from_lifecycle_stage,
        after.lifecycle_stage as to_lifecycle_stage,
        before.tier as from_tier,
        after.tier as to_tier
    from snapshot_pairs
    inner join history as before
        on before.snapshot_date = snapshot_pairs.from_snapshot_date
    inner join history as after
        on after.snapshot_date = snapshot_pairs.to_snapshot_date
        and after.customer_id = before.customer_id

),

moves as (

    {% for dimension in ['rfm_segment', 'value_quadrant', 'lifecycle_stage', 'tier'] -%}
    select
        from_snapshot_date,
        to_snapshot_date,
        '{{ dimension }}' as dimension,
        coalesce(from_{{ dimension }}, 'none') as from_value,
        coalesce(to_{{ dimension }}, 'none') as to_value,
        count(*) as customers
    from paired
    group by all
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        cast(from_snapshot_date as date) as from_snapshot_date,
        cast(to_snapshot_date as date) as to_snapshot_date,
        cast(dimension as varchar) as dimension,
        cast(from_value as varchar) as from_value,
        cast(to_value as varchar) as to_value,
        cast(from_value != to_value as boolean) as is_change,
        cast(customers as bigint) as customers
    from moves

)

select * from final
