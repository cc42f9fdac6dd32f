-- One row per resolved customer with a ticket or survey answer on or before the reference
-- date: ticket and complaint counts, complaint SLA, resolution time, compensation, the
-- latest CSAT and NPS answers, and the sentiment of what the customer wrote to service.
with

tickets as (

    select * from {{ ref('int_tickets__matched') }}

),

surveys as (

    select * from {{ ref('stg_service__surveys') }}

),

service_texts as (

    select * from {{ ref('int_service_texts__scored') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

tickets_in_scope as (

    select tickets.*
    from tickets
    cross join reference
    where tickets.customer_id is not null
        and cast(tickets.opened_at as date) <= reference.reference_date

),

ticket_metrics as (

    select
        customer_id,
        count(*) as tickets,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (
            where is_complaint
                and first_response_at is not null
                and {{ seconds_between('opened_at', 'first_response_at') }}
                    <= {{ var('first_response_sla_hours') }} * 3600
        ) as complaints_replied_within_sla,
        -- Averaged over whole seconds (integers): a floating-point average would depend on
        -- how DuckDB's threads split the rows, and re-runs must give identical tables.
        avg({{ whole_seconds_between('opened_at', 'resolved_at') }})
            filter (where resolved_at is not null) / 3600.0 as avg_resolution_hours,
        sum(compensation_amount) as compensation_amount
    from tickets_in_scope
    group by all

),

-- A survey answer belongs to its own customer_id, else to the customer of its ticket.
surveys_attributed as (

    select
        surveys.*,
        coalesce(surveys.customer_id, tickets.customer_id) as attributed_customer_id
    from surveys
    left join tickets
        on tickets.ticket_id = surveys.ticket_id
    cross join reference
    where cast(surveys.answered_at as date) <= reference.reference_date

),

latest_surveys as (

    select
        attributed_customer_id as customer_id,
        max_by(score, (answered_at, survey_id)) filter (where survey_type = 'csat')
            as last_csat,
        max_by(score, (answered_at, survey_id)) filter (where survey_type = 'nps')
            as last_nps
    from surveys_attributed
    where attributed_customer_id is not null
    group by all

),

text_sentiment as (

    select
        service_texts.customer_id,
        avg(cast(service_texts.sentiment_score as decimal(9, 6))) as avg_service_text_sentiment,
        count(*) filter (where service_texts.sentiment_label = 'negative')
            as negative_service_texts
    from service_texts
    cross join reference
    where service_texts.customer_id is not null
        and cast(service_texts.written_at as date) <= reference.reference_date
    group by all

),

customers as (

    select customer_id from ticket_metrics
    union
    select customer_id from latest_surveys
    union
    select customer_id from text_sentiment

),

final as (

    select
        customers.customer_id,
        coalesce(ticket_metrics.tickets, 0) as tickets,
        coalesce(ticket_metrics.complaints, 0) as complaints,
        case
            when ticket_metrics.complaints > 0
                then ticket_metrics.complaints_replied_within_sla
                    / ticket_metrics.complaints
        end as complaint_first_reply_sla_rate,
        ticket_metrics.avg_resolution_hours,
        coalesce(ticket_metrics.compensation_amount, 0) as compensation_amount,
        latest_surveys.last_csat,
        latest_surveys.last_nps,
        text_sentiment.avg_service_text_sentiment,
        coalesce(text_sentiment.negative_service_texts, 0) as negative_service_texts
    from customers
    left join ticket_metrics
        on ticket_metrics.customer_id = customers.customer_id
    left join latest_surveys
        on latest_surveys.customer_id = customers.customer_id
    left join text_sentiment
        on text_sentiment.customer_id = customers.customer_id

)

select * from final
