-- A returned row is a day of kpi_daily whose figures contradict each other (more buyers than
-- purchases, more new customers than buyers, fewer 30-day actives than the day's buyers), or a
-- gap in the date spine (`problem` says which). Only kpi_daily is read, so the test never runs
-- with the incremental facts alone (a test reading fct_orders too would be selected there).
with

kpi as (

    select * from {{ ref('kpi_daily') }}

),

contradictions as (

    select
        kpi_date,
        case
            when buyers > orders then 'more buyers than purchases'
            when new_customers > buyers then 'more new customers than buyers'
            when active_customers_30d < buyers then 'fewer 30-day actives than buyers'
        end as problem
    from kpi

),

gaps as (

    select
        max(kpi_date) as kpi_date,
        'date spine has '
            || ({{ days_between('min(kpi_date)', 'max(kpi_date)') }} + 1 - count(*))
            || ' missing days'
            as problem
    from kpi
    having count(*) > 0
        and count(*) != {{ days_between('min(kpi_date)', 'max(kpi_date)') }} + 1

),

final as (

    select * from contradictions
    where problem is not null
    union all
    select * from gaps

)

select * from final
