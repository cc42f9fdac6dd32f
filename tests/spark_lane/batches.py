"""The lane's check of ``SparkTables.read_batches`` on a real session: every row once, in order,
in batches of at most the size asked for, the same values as one ``read_arrow`` of the query
(a classic session's rows, and Spark Connect's Arrow stream)."""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import SparkSession

from tests.spark_lane.compare import ModelComparison, compare_tables
from warehouse.spark import SparkTables

ROWS = 25_013
BATCH_ROWS = 1_000
QUERY = f"""
select
    id as n,
    concat('c', cast(id as string)) as customer_id,
    date_add(date '2025-01-01', cast(id % 400 as int)) as day,
    cast(id / 4 as decimal(18, 2)) as amount,
    case when id % 3 = 0 then null else id end as sometimes,
    timestamp '2025-01-01 00:00:00' + make_interval(0, 0, 0, 0, 0, 0, id % 86400) as at
from range({ROWS})
order by n
"""
"""Rows over several of the server's Arrow chunks (about 10,000 rows each) and of the batches."""


def check_read_batches(spark: SparkSession, label: str) -> ModelComparison:
    """One line of the lane's table: ``read_batches`` of :data:`QUERY` against ``read_arrow``."""
    tables = SparkTables(spark)
    batches = list(tables.read_batches(QUERY, None, BATCH_ROWS))
    whole = tables.read_arrow(QUERY)
    counts = [batch.num_rows for batch in batches]
    numbers = pa.Table.from_batches(batches).column("n").to_pylist() if batches else []
    if max(counts, default=0) > BATCH_ROWS:
        match = f"no: a batch of {max(counts):,} rows (at most {BATCH_ROWS:,})"
    elif numbers != list(range(ROWS)):
        match = f"no: {len(numbers):,} rows, {len(set(numbers)):,} distinct, not 0..{ROWS - 1}"
    else:
        match = compare_tables(whole, pa.Table.from_batches(batches))
    return ModelComparison(f"read_batches ({label})", "success", whole.num_rows, sum(counts), match)
