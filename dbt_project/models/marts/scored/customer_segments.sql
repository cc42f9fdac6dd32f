-- Every segmentation of a customer side by side: lifecycle stage and membership tier (customer
-- 360), RFM segment and value class, value-matrix quadrant and persona (model assets). Built
-- after the model assets (tag `scored`).
with

customers as (

    select * from {{ ref('customer_360') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

customer_value as (

    select * from {{ source('ml', 'customer_value') }}

),

personas as (

    select * from {{ source('ml', 'customer_personas') }}

),

final as (

    select
        cast(customers.customer_id as string) as customer_id,
        cast(customers.reference_date as date) as reference_date,
        cast(customers.customer_type as string) as customer_type,
        cast(customers.lifecycle_stage as string) as lifecycle_stage,
        cast(customers.membership_tier as string) as membership_tier,
        cast(rfm.rfm_cell as string) as rfm_cell,
        cast(rfm.rfm_segment as string) as rfm_segment,
        cast(rfm.value_class as string) as rfm_value_class,
        cast(customer_value.value_quadrant as string) as value_quadrant,
        cast(customer_value.current_value as decimal(18, 2)) as current_value,
        cast(customer_value.clv_12m as decimal(18, 2)) as clv_12m,
        cast(customer_value.p_alive as double) as p_alive,
        cast(personas.persona as string) as persona,
        cast(personas.confidence as double) as persona_confidence
    from customers
    left join rfm
        on rfm.customer_id = customers.customer_id
    left join customer_value
        on customer_value.customer_id = customers.customer_id
    left join personas
        on personas.customer_id = customers.customer_id

)

select * from final
