-- One row per "bought together" rule antecedent -> consequent, at product and at subcategory
-- level, over the purchases (baskets) up to the reference date: support, confidence, lift. The
-- baskets are counted per day by int_orders__item_pairs_by_day (incremental); this sums them.
{#- A rule needs this many baskets with both sides, and at least this support (share of all
    baskets), so that big shops do not list millions of chance pairs and small ones no
    one-off coincidences. -#}
{% set min_pair_baskets = 10 %}
{% set min_support = 0.0001 %}
with

reference as (

    select * from {{ ref('int_reference_date__selected') }}

),

day_counts as (

    select day_counts.*
    from {{ ref('int_orders__item_pairs_by_day') }} as day_counts
    cross join reference
    where day_counts.order_date <= reference.reference_date

),

products as (

    select * from {{ ref('stg_orders__products') }}

),

baskets as (

    select cast(coalesce(sum(baskets), 0) as bigint) as baskets
    from day_counts
    where first_item is null

),

item_baskets as (

    select association_level, first_item as item, cast(sum(baskets) as bigint) as item_baskets
    from day_counts
    where first_item is not null
        and second_item is null
    group by all

),

-- Each pair is stored once, with its items in order, and read both ways.
unordered_pairs as (

    select association_level, first_item, second_item, cast(sum(baskets) as bigint) as pair_baskets
    from day_counts
    where second_item is not null
    group by all

),

pairs as (

    select association_level, first_item as antecedent, second_item as consequent, pair_baskets
    from unordered_pairs
    union all
    select association_level, second_item, first_item, pair_baskets
    from unordered_pairs

),

rules as (

    select
        pairs.*,
        baskets.baskets,
        pairs.pair_baskets / baskets.baskets as support,
        pairs.pair_baskets / antecedent_baskets.item_baskets as confidence,
        consequent_baskets.item_baskets / baskets.baskets as consequent_support
    from pairs
    cross join baskets
    inner join item_baskets as antecedent_baskets
        on antecedent_baskets.association_level = pairs.association_level
        and antecedent_baskets.item = pairs.antecedent
    inner join item_baskets as consequent_baskets
        on consequent_baskets.association_level = pairs.association_level
        and consequent_baskets.item = pairs.consequent
    where pairs.pair_baskets >= {{ min_pair_baskets }}
        and pairs.pair_baskets / baskets.baskets >= {{ min_support }}

),

final as (

    select
        cast(rules.association_level as string) as association_level,
        cast(rules.antecedent as string) as antecedent,
        cast(coalesce(antecedent_products.product_name, rules.antecedent) as string)
            as antecedent_name,
        cast(rules.consequent as string) as consequent,
        cast(coalesce(consequent_products.product_name, rules.consequent) as string)
            as consequent_name,
        cast(rules.pair_baskets as bigint) as pair_baskets,
        cast(rules.support as double) as support,
        cast(rules.confidence as double) as confidence,
        cast(rules.confidence / rules.consequent_support as double) as lift,
        cast(
            row_number() over (
                partition by rules.association_level
                order by rules.confidence / rules.consequent_support desc,
                    rules.support desc, rules.antecedent nulls last, rules.consequent nulls last
            )
            as bigint
        ) as lift_rank
    from rules
    left join products as antecedent_products
        on rules.association_level = 'product'
        and antecedent_products.product_id = rules.antecedent
    left join products as consequent_products
        on rules.association_level = 'product'
        and consequent_products.product_id = rules.consequent

)

select * from final
