-- One row per pair of consecutive snapshot dates of segment_history, segmentation dimension,
-- and value before and after: how many customers moved from one segment to another (or
-- stayed). Only customers present in both snapshots count, so the customers of a pair and
-- dimension add up to the customers the two snapshots share. A missing value (no purchase yet
-- for the RFM segment, not scored for the value quadrant) counts as `none`.
--
-- Incremental by the pair's first snapshot: a pair's counts depend only on its two snapshots,
-- so a night recounts the pairs of which a snapshot's fingerprint changed since the last build
-- (int_segment_history__snapshots; a night usually changes the reference date's snapshot
-- only), and the pairs not stored yet; the others are kept. Joining every pair of the whole
-- history again cost more than everything else segment_history's night does. Pairs that no
-- longer exist (a snapshot deleted) are deleted.
{{
    incremental_by_key(
        'from_snapshot_date',
        post_hook=[
            "delete from {{ this }} where (from_snapshot_date, to_snapshot_date) not in ("
            ~ "{{ segment_snapshot_pairs(ref('segment_history')) }})"
        ],
    )
}}
{#- Read by name, not ref(): that model is built after this one, from the same history. -#}
{%- set stored_fingerprints = adapter.get_relation(
    database=this.database, schema='intermediate', identifier='int_segment_history__snapshots'
) if is_incremental() else none %}

with

history as (

    select * from {{ ref('segment_history') }}

),

all_snapshot_pairs as (

    {{ segment_snapshot_pairs(ref('segment_history')) }}

),

{% if is_incremental() -%}
changed_snapshots as (

    {% if stored_fingerprints is none -%}
    select distinct snapshot_date from history
    {%- else -%}
    select current_snapshots.snapshot_date
    from ({{ segment_snapshot_fingerprints(ref('segment_history')) }}) as current_snapshots
    left join {{ stored_fingerprints }} as stored
        on stored.snapshot_date = current_snapshots.snapshot_date
    where current_snapshots.fingerprint is distinct from stored.fingerprint
    {%- endif %}

),

stored_pairs as (

    select distinct from_snapshot_date, to_snapshot_date from {{ this }}

),

{% endif -%}
snapshot_pairs as (

    select all_snapshot_pairs.*
    from all_snapshot_pairs
    {%- if is_incremental() %}
    left join stored_pairs
        on stored_pairs.from_snapshot_date = all_snapshot_pairs.from_snapshot_date
        and stored_pairs.to_snapshot_date = all_snapshot_pairs.to_snapshot_date
    where stored_pairs.from_snapshot_date is null
        or all_snapshot_pairs.from_snapshot_date in (select snapshot_date from changed_snapshots)
        or all_snapshot_pairs.to_snapshot_date in (select snapshot_date from changed_snapshots)
    {%- endif %}

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
        cast(dimension as string) as dimension,
        cast(from_value as string) as from_value,
        cast(to_value as string) as to_value,
        cast(from_value != to_value as boolean) as is_change,
        cast(customers as bigint) as customers
    from moves

)

select * from final
