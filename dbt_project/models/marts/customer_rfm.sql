with

purchases as (

    select * from {{ ref('int_customers__purchases_aggregated') }}

),

metrics as (

    select
        customer_id,
        reference_date,
        {{ days_between('last_purchase_date', 'reference_date') }} as recency_days,
        purchases as frequency,
        net_revenue as monetary
    from purchases

),

-- Quintiles over all customers. Each metric is heavily tied (most customers buy once), so
-- equal values are spread over neighbouring scores in md5(customer_id) order: deterministic,
-- all five scores occur, and no score borrows from another metric (breaking frequency ties by
-- spend would push one-time big spenders to a higher F and empty the `potential` class).
-- Recency is ordered from the oldest purchase, so the most recent customers score 5.
scored as (

    select
        *,
        {{ quintile_score('recency_days desc') }} as r_score,
        {{ quintile_score('frequency') }} as f_score,
        {{ quintile_score('monetary') }} as m_score
    from metrics

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(reference_date as date) as reference_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as bigint) as frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(r_score as integer) as r_score,
        cast(f_score as integer) as f_score,
        cast(m_score as integer) as m_score,
        cast(r_score || f_score || m_score as string) as rfm_cell,
        cast({{ rfm_segment('r_score', 'f_score') }} as string) as rfm_segment,
        cast({{ rfm_value_class('r_score', 'f_score', 'm_score') }} as string) as value_class
    from scored

)

select * from final
