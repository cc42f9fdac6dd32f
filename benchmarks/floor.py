"""The floor: the essential work of Weixi's load and marts, written by hand in DuckDB.

Reads every CSV of every source of a landing folder (``weixi generate``), keeps the latest
version of each order and customer, matches guest orders to customers by e-mail or phone, and
builds a customer 360 (orders, revenue, first and last order per CRM customer) and RFM scores
(quintiles) with the meaning of Weixi's ``customer_360`` and ``customer_rfm``. No contract rules,
quarantine, checks or history: what Weixi costs beyond this is the price of those. Example:
    .venv/bin/python benchmarks/floor.py --landing data/landing --database /tmp/floor.duckdb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

# The latest version of an order or customer: its latest updated_at, ties to the later delivery
# day and the later file (as Weixi's qualify_latest_version).
LATEST = "qualify row_number() over (partition by {key} order by updated_at desc nulls last, "
LATEST += "delivered_on desc, filename desc) = 1"

MARTS = f"""
create or replace table customers as
select * from raw_crm__customers {LATEST.format(key="customer_id")};

create or replace table orders as
select * from raw_orders__orders {LATEST.format(key="order_id")};

-- Guest orders belong to the customer with the guest's e-mail, else phone (as Weixi matches).
create or replace table matched_orders as
with by_email as (
    select lower(trim(email)) as email, min(customer_id) as customer_id
    from customers where nullif(trim(email), '') is not null group by all
),
by_phone as (
    select trim(phone) as phone, min(customer_id) as customer_id
    from customers where nullif(trim(phone), '') is not null group by all
)
select
    orders.order_id,
    coalesce(nullif(trim(orders.customer_id), ''), by_email.customer_id, by_phone.customer_id)
        as customer_id,
    cast(orders.ordered_at as date) as order_date,
    orders.status != 'cancelled' as is_purchase,
    case
        when orders.status != 'cancelled'
            -- a small landing may have no refund at all, which DuckDB then reads as text
            then greatest(
                orders.total_amount - coalesce(cast(orders.refund_amount as double), 0), 0
            )
        else 0
    end as net_revenue
from orders
left join by_email on lower(trim(orders.guest_email)) = by_email.email
left join by_phone on trim(orders.guest_phone) = by_phone.phone;

create or replace table purchases as
select
    customer_id,
    count(*) as purchases,
    sum(net_revenue) as net_revenue,
    min(order_date) as first_purchase_date,
    max(order_date) as last_purchase_date
from matched_orders
where is_purchase and customer_id is not null
group by all;

create or replace table customer_360 as
select
    customers.customer_id,
    coalesce(purchases.purchases, 0) as lifetime_orders,
    coalesce(purchases.net_revenue, 0) as lifetime_revenue,
    purchases.first_purchase_date,
    purchases.last_purchase_date
from customers
left join purchases using (customer_id);

create or replace table customer_rfm as
with metrics as (
    select
        customer_id,
        (select max(last_purchase_date) from purchases) - last_purchase_date as recency_days,
        purchases as frequency,
        net_revenue as monetary
    from purchases
)
select
    *,
    ntile(5) over (order by recency_days desc, md5(customer_id)) as r_score,
    ntile(5) over (order by frequency, md5(customer_id)) as f_score,
    ntile(5) over (order by monetary, md5(customer_id)) as m_score
from metrics;
"""


def entities(landing: Path) -> dict[str, str]:
    """Each entity of the landing folder (``<source>__<file stem>``) and the glob of its files."""
    found = {
        f"{path.parent.parent.name}__{path.stem}": str(landing / path.parent.parent.name)
        + f"/*/{path.name}"
        for path in landing.glob("*/*/*.csv")
        if not path.parent.parent.name.startswith("_")
    }
    return dict(sorted(found.items()))


def run_floor(landing: Path, database: Path, memory_limit: str, threads: int | None) -> dict:
    """Load every CSV of ``landing`` into ``database`` and build the 360 and RFM tables; returns
    the row counts of the two marts."""
    config = {"memory_limit": memory_limit, **({"threads": threads} if threads else {})}
    with duckdb.connect(str(database), config=config) as con:
        for entity, files in entities(landing).items():
            # The generated files of an entity share one header, so DuckDB sniffs it once
            # (union_by_name sniffs every file: 5x the CPU at 20,000 customers).
            con.execute(
                f"create or replace table raw_{entity} as "
                f"select *, cast(regexp_extract(filename, '/(\\d{{4}}-\\d{{2}}-\\d{{2}})/', 1) "
                f"as date) as delivered_on "
                f"from read_csv('{files}', filename = true, header = true)"
            )
        con.execute(MARTS)
        return {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("orders", "customer_360", "customer_rfm")
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True, help="DuckDB file to write")
    parser.add_argument("--memory-limit", default="33%", help="as WEIXI_DUCKDB_MEMORY_LIMIT")
    parser.add_argument("--threads", type=int, help="default: one per CPU core")
    args = parser.parse_args()
    counts = run_floor(args.landing, args.database, args.memory_limit, args.threads)
    print(" ".join(f"{table}={rows:,}" for table, rows in counts.items()))


if __name__ == "__main__":
    main()
