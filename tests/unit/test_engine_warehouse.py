"""The engine-neutral warehouse interface (``EngineWarehouse``) on DuckDB: what the model assets
read and write through it, and the SQL of the model assets spelled as both engines read it.
The same interface on Spark is exercised by the Spark lane (tests/spark_lane/model_assets.py)."""

import sys
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.defs.ml import churn, personas, recommendations, value
from orchestration.defs.ml.model_validation import Figure, validation_rows
from orchestration.defs.resources import (
    EngineWarehouse,
    SparkWarehouse,
    Warehouse,
    frame_of,
    warehouse_resource,
)
from orchestration.settings import WeixiSettings
from warehouse.arrow_batches import rebatched
from warehouse.model_outputs import MODEL_VALIDATION
from warehouse.sql_portability import check_sql

ROWS_SQL = """
select
    range as n,
    'c' || cast(range as string) as customer_id,
    date '2025-01-01' + cast(range as integer) as day,
    cast(range / 4 as decimal(18, 2)) as amount,
    case when range % 3 = 0 then null else range end as sometimes
from range(5000)
where range >= $low
order by n
"""


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(path=str(tmp_path / "warehouse.duckdb"), batch_rows=2048)


def _duckdb_df(warehouse: Warehouse, sql: str, params: dict) -> pd.DataFrame:
    with duckdb.connect(warehouse.path) as con:
        return con.execute(sql, params).df()


def test_a_frame_is_the_query_as_duckdb_gives_it(warehouse):
    expected = _duckdb_df(warehouse, ROWS_SQL, {"low": 10})
    pd.testing.assert_frame_equal(warehouse.read_frame(ROWS_SQL, {"low": 10}), expected)
    # The conversion the Spark warehouse uses for its Arrow reads gives the same frame.
    pd.testing.assert_frame_equal(frame_of(warehouse.read_arrow(ROWS_SQL, {"low": 10})), expected)


def test_frames_come_in_bounded_batches_and_add_up_to_the_query(warehouse):
    frames = list(warehouse.read_frames(ROWS_SQL, {"low": 10}))
    assert len(frames) == 3 and max(len(f) for f in frames) <= warehouse.batch_rows
    together = pd.concat(frames, ignore_index=True)
    expected = _duckdb_df(warehouse, ROWS_SQL, {"low": 10})
    pd.testing.assert_frame_equal(together, expected, check_dtype=False)
    batches = list(warehouse.read_batches(ROWS_SQL, {"low": 10}))
    assert [b.num_rows for b in batches] == [2048, 2048, 894]


@pytest.mark.parametrize("batch_rows", [1, 7, 100, 5000])
def test_chunks_of_any_size_are_recut_to_full_batches_without_losing_a_row(batch_rows):
    # As Spark Connect streams a result: chunks of its own sizes, empty ones included.
    sizes = [0, 3, 250, 1, 0, 99, 100, 1000, 6]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    schema = pa.schema({"n": pa.int64(), "t": pa.string()})
    chunks = [
        pa.table({"n": range(start, start + size), "t": [str(start)] * size}, schema=schema)
        for start, size in zip(starts, sizes, strict=True)
    ]
    chunks[1] = chunks[1].to_batches()[0]  # record batches are taken too

    batches = list(rebatched(chunks, batch_rows))

    counts = [batch.num_rows for batch in batches]
    assert all(count == batch_rows for count in counts[:-1]) and 0 < counts[-1] <= batch_rows
    together = pa.Table.from_batches(batches)
    assert together.column("n").to_pylist() == list(range(sum(sizes)))
    assert together.schema == schema


def test_no_chunk_or_only_empty_ones_is_no_batch():
    empty = pa.table({"n": pa.array([], pa.int64())})
    assert list(rebatched([], 10)) == [] and list(rebatched([empty, empty], 10)) == []
    with pytest.raises(ValueError, match="batch_rows"):
        list(rebatched([empty], 0))


def test_a_query_reads_the_arrow_tables_it_is_given_by_name(warehouse):
    positions = pa.table({"customer_id": ["b", "a"], "position": [0, 1]})
    read = warehouse.read_arrow(
        "select position from positions where customer_id = $id",
        {"id": "a"},
        views={"positions": positions},
    )
    assert read.column("position").to_pylist() == [1]


def test_replacing_rows_keeps_the_others_and_creates_a_missing_table(warehouse):
    for model, values in (("churn", [1, 2]), ("ltv", [3]), ("churn", [5])):
        warehouse.replace_rows(
            MODEL_VALIDATION,
            validation_rows(model, "v1", [Figure(f"m{i}", v) for i, v in enumerate(values)], ""),
            "model = $model and model_version = $version",
            {"model": model, "version": "v1"},
        )
    rows = warehouse.read_frame(
        f"select model, metric, value from {MODEL_VALIDATION.name} order by model"
    )
    assert rows.values.tolist() == [["churn", "m0", 5.0], ["ltv", "m0", 3.0]]


def test_days_between_and_the_reference_date(warehouse):
    day = warehouse.days_between("date '2025-01-01'", "date '2025-03-01'")
    assert warehouse.read_arrow(f"select {day} as days").column(0).to_pylist() == [59]
    assert warehouse.known_reference_date() is None
    assert not warehouse.table_exists("intermediate.int_reference_date__selected")
    with duckdb.connect(warehouse.path) as con:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_reference_date__selected as "
            "select date '2025-06-30' as reference_date"
        )
    assert warehouse.table_exists("intermediate.int_reference_date__selected")
    assert warehouse.reference_date() == date(2025, 6, 30)
    assert warehouse.known_reference_date() == date(2025, 6, 30)


def test_the_engine_setting_picks_the_warehouse_without_importing_pyspark(tmp_path):
    duckdb_settings = WeixiSettings(warehouse=tmp_path / "w.duckdb", score_batch_rows=1000)
    chosen = warehouse_resource(duckdb_settings)
    assert isinstance(chosen, Warehouse) and chosen.batch_rows == 1000
    spark_settings = WeixiSettings(
        engine="spark", spark_master="local[1]", spark_warehouse_dir=tmp_path / "spark"
    )
    spark = warehouse_resource(spark_settings)
    assert isinstance(spark, SparkWarehouse)
    assert (spark.master, spark.warehouse_dir) == ("local[1]", str(tmp_path / "spark"))
    assert "pyspark" not in sys.modules


class _SharedSpelling(EngineWarehouse):
    """The spelling every engine shares: a warehouse's own fragments (``days_between``, the
    materialised CTE) are left out, as the lint leaves out the dbt macros' spellings."""

    def days_between(self, start: str, end: str) -> str:
        return "0"


def _model_asset_sql() -> dict[str, str]:
    return {
        "churn features": churn._features_sql("is_scoring_snapshot"),
        "value totals": value.TOTALS_SQL,
        "persona totals": personas.TOTALS_SQL,
        "recommendation customers": recommendations.CUSTOMERS_SQL,
        "recommendation products": recommendations.PRODUCTS_SQL,
        "recommendation lines": recommendations.purchase_lines_sql(_SharedSpelling()),
    }


@pytest.mark.parametrize("name", sorted(_model_asset_sql()))
def test_the_model_assets_sql_passes_the_portability_lint(name):
    assert [str(f) for f in check_sql(_model_asset_sql()[name], name)] == []


def test_the_lint_sees_a_duckdb_spelling_in_an_asset_query():
    assert check_sql("select text::double from raw.social__posts", "example")
