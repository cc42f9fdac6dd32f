-- One row per business account in the CRM: its contacts by role in the decision chain, whether
-- a decision maker is known, and when a decision maker was last contacted. The data holds no
-- call log, so a contact is what the sources record: an account-manager revisit (a CRM version
-- of the account whose planned next revisit moved later: the planned visit took place), while
-- the account has a decision maker on file, or a service ticket raised from a decision
-- maker's e-mail or phone (opened, answered or resolved). Up to the end of the reference day.
with

accounts as (

    select * from {{ ref('stg_crm__customers') }}
    where customer_type = 'business'

),

account_versions as (

    select * from {{ source('crm', 'customers') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

tickets as (

    select * from {{ ref('stg_service__tickets') }}

),

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

role_counts as (

    select
        customer_id,
        count(*) as contacts,
        count(*) filter (where decision_role = 'decision_maker') as decision_makers,
        count(*) filter (where decision_role = 'influencer') as influencers,
        count(*) filter (where decision_role = 'user') as users,
        count(*) filter (
            where decision_role is null
                or decision_role not in ('decision_maker', 'influencer', 'user')
        ) as unknown_role_contacts
    from contacts
    group by all

),

-- One version per account and updated_at: a re-sent day delivers the same version again.
account_plans as (

    select
        trim(account_versions.customer_id) as customer_id,
        account_versions.updated_at,
        account_versions.next_revisit_date
    from account_versions
    cross join reference
    where account_versions.updated_at
        < cast(reference.reference_date as timestamp) + interval 1 day
    {{ qualify_latest_version(['trim(account_versions.customer_id)', 'account_versions.updated_at']) }}

),

revisit_plans as (

    select
        *,
        lag(next_revisit_date) over (partition by customer_id order by updated_at nulls last)
            as previous_revisit_date
    from account_plans

),

revisits as (

    select
        customer_id,
        max(updated_at) as last_revisit_at
    from revisit_plans
    where next_revisit_date > previous_revisit_date
    group by all

),

-- Decision makers' and tickets' e-mails and phones, normalised as in identity matching, so
-- that each kind matches on an equality (a join on "e-mail or phone" compares every pair).
decision_maker_identifiers as (

    select
        customer_id,
        'email' as identifier_type,
        {{ normalise_email('email') }} as identifier
    from contacts
    where decision_role = 'decision_maker'
    union all
    select
        customer_id,
        'phone' as identifier_type,
        {{ normalise_phone('phone') }} as identifier
    from contacts
    where decision_role = 'decision_maker'

),

-- A ticket touches its contact when opened, answered and resolved; what happened after the
-- reference day is not known yet.
ticket_touches as (

    select
        tickets.contact_email,
        tickets.contact_phone,
        greatest(
            case when tickets.opened_at < known.known_before then tickets.opened_at end,
            case
                when tickets.first_response_at < known.known_before
                    then tickets.first_response_at
            end,
            case when tickets.resolved_at < known.known_before then tickets.resolved_at end
        ) as touched_at
    from tickets
    cross join (
        select cast(reference_date as timestamp) + interval 1 day as known_before from reference
    ) as known
    where tickets.opened_at < known.known_before

),

ticket_identifiers as (

    select
        touched_at,
        'email' as identifier_type,
        {{ normalise_email('contact_email') }} as identifier
    from ticket_touches
    union all
    select
        touched_at,
        'phone' as identifier_type,
        {{ normalise_phone('contact_phone') }} as identifier
    from ticket_touches

),

decision_maker_tickets as (

    select
        decision_maker_identifiers.customer_id,
        max(ticket_identifiers.touched_at) as last_ticket_at
    from decision_maker_identifiers
    inner join ticket_identifiers
        on ticket_identifiers.identifier_type = decision_maker_identifiers.identifier_type
        and ticket_identifiers.identifier = decision_maker_identifiers.identifier
    group by all

),

joined as (

    select
        accounts.customer_id,
        accounts.account_manager_id,
        accounts.next_revisit_date,
        reference.reference_date,
        coalesce(role_counts.contacts, 0) as contacts,
        coalesce(role_counts.decision_makers, 0) as decision_makers,
        coalesce(role_counts.influencers, 0) as influencers,
        coalesce(role_counts.users, 0) as users,
        coalesce(role_counts.unknown_role_contacts, 0) as unknown_role_contacts,
        revisits.last_revisit_at,
        decision_maker_tickets.last_ticket_at
    from accounts
    cross join reference
    left join role_counts
        on role_counts.customer_id = accounts.customer_id
    left join revisits
        on revisits.customer_id = accounts.customer_id
    left join decision_maker_tickets
        on decision_maker_tickets.customer_id = accounts.customer_id

),

contacted as (

    select
        *,
        -- Tickets come from decision makers only; a revisit meets one only if one is known.
        case
            when decision_makers > 0 then greatest(last_revisit_at, last_ticket_at)
        end as decision_maker_last_contacted_at
    from joined

),

final as (

    select
        cast(customer_id as string) as customer_id,
        cast(account_manager_id as string) as account_manager_id,
        cast(reference_date as date) as reference_date,
        cast(contacts as bigint) as contacts,
        cast(decision_makers as bigint) as decision_makers,
        cast(influencers as bigint) as influencers,
        cast(users as bigint) as users,
        cast(unknown_role_contacts as bigint) as unknown_role_contacts,
        cast(decision_makers > 0 as boolean) as has_decision_maker,
        cast(last_revisit_at as timestamp) as last_revisit_at,
        cast(next_revisit_date as date) as next_revisit_date,
        cast(decision_maker_last_contacted_at as timestamp) as decision_maker_last_contacted_at,
        cast(
            coalesce(
                decision_maker_last_contacted_at
                    >= cast(reference_date as timestamp)
                        - {{ days_interval(var('decision_maker_contact_days')) }},
                false
            )
            as boolean
        ) as decision_maker_contacted_recently
    from contacted

)

select * from final
