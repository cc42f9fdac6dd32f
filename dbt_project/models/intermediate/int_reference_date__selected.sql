-- One row: the date customer metrics are computed as of (macro selected_reference_date).
with

final as (

    {{ selected_reference_date() }}

)

select * from final
