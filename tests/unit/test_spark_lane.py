"""The Spark lane's pure parts, which `make test` checks without Spark: it builds the test
suite's warehouse, and its comparison is order-free, tolerant of summation noise only, and
names what differs."""

from decimal import Decimal

import pyarrow as pa

from orchestration.settings import SHOP_FILES
from tests import support
from tests.spark_lane import duckdb_build
from tests.spark_lane.compare import ModelComparison, compare_tables, render


def test_the_lane_builds_the_test_suites_demo_warehouse():
    assert duckdb_build.DEMO_CUSTOMERS == support.DEMO_CUSTOMERS
    assert duckdb_build.DEMO_DAYS == support.DEMO_DAYS
    assert duckdb_build.DEMO_END == support.DEMO_END.isoformat()


def test_the_lanes_duckdb_build_writes_only_in_its_scratch_folder(tmp_path):
    environment = duckdb_build.shop_environment(tmp_path)

    assert set(SHOP_FILES) | {"WEIXI_LANDING"} <= set(environment)
    for variable in [*SHOP_FILES, "WEIXI_LANDING"]:
        assert environment[variable].startswith(str(tmp_path))
    assert environment["WEIXI_ENGINE"] == "duckdb"


def _orders(amounts: list, ids: list[str] | None = None) -> pa.Table:
    ids = ids or [f"o{i}" for i in range(len(amounts))]
    return pa.table({"order_id": ids, "amount": amounts})


def test_rows_in_another_order_and_decimals_against_doubles_match():
    duckdb_side = pa.table(
        {
            "order_id": ["a", "b", None],
            "amount": pa.array([Decimal("1.10"), Decimal("2.20"), None], pa.decimal128(10, 2)),
        }
    )
    spark_side = pa.table({"AMOUNT": [None, 2.2 + 1e-12, 1.1], "order_id": [None, "b", "a"]})

    assert compare_tables(duckdb_side, spark_side) == "yes"


def test_a_value_rounded_differently_is_a_difference():
    verdict = compare_tables(_orders([295.72, 10.0]), _orders([295.71, 10.0]))

    assert verdict == "no: 1 rows differ in amount"


def test_timestamps_compare_as_instants_whatever_their_time_zone():
    naive = pa.array([0, 3_600_000_000], pa.timestamp("us"))
    utc = pa.array([0, 3_600_000_000], pa.timestamp("us", "UTC"))
    shanghai = pa.array([0, 3_600_000_000], pa.timestamp("us", "Asia/Shanghai"))

    assert compare_tables(pa.table({"t": naive}), pa.table({"t": utc})) == "yes"
    assert compare_tables(pa.table({"t": utc}), pa.table({"t": shanghai})) == "yes"


def test_missing_columns_and_rows_are_named():
    extra_column = _orders([1.0]).append_column("note", pa.array(["x"]))

    assert compare_tables(_orders([1.0]), extra_column) == (
        "no: columns only in duckdb [], only in spark ['note']"
    )
    assert compare_tables(_orders([1.0, 2.0]), _orders([1.0])) == "no: row counts differ"
    assert compare_tables(_orders([1.0], ["a"]), _orders([1.0], ["b"])) == (
        "no: 1 rows differ in order_id"
    )


def test_the_table_marks_what_did_not_build():
    built = ModelComparison("marts.kpi_daily", "success", 75, 75, "yes")
    failed = ModelComparison("marts.customer_360", "error", 400, None, "-")

    header, _, kpi, customers = (
        [cell.strip() for cell in line.split(" | ")]
        for line in render([built, failed]).splitlines()
    )

    assert header == ["model", "spark status", "rows duckdb", "rows spark", "match"]
    assert kpi == ["marts.kpi_daily", "success", "75", "75", "yes"]
    assert customers == ["marts.customer_360", "error", "400", "-", "-"]
    assert built.ok and not failed.ok


def test_the_load_run_of_a_raw_row_is_left_out_of_the_comparison():
    duckdb_side = pa.table({"_row_number": [2], "_load_id": ["run-a"], "loaded_at": ["10:00"]})
    spark_side = pa.table({"_row_number": [2], "_load_id": ["run-b"], "loaded_at": ["10:01"]})
    assert compare_tables(duckdb_side, spark_side) == "yes"
    other_row = pa.table({"_row_number": [3], "_load_id": ["run-a"], "loaded_at": ["10:00"]})
    assert compare_tables(duckdb_side, other_row).startswith("no")


def test_engine_hashes_are_left_out_of_the_comparison():
    duckdb_side = pa.table({"day": ["2026-01-01"], "fingerprint": pa.array([1], pa.int64())})
    spark_side = pa.table({"day": ["2026-01-01"], "fingerprint": pa.array([2], pa.int64())})
    assert compare_tables(duckdb_side, spark_side) == "yes"
    other = pa.table({"day": ["2026-01-02"], "fingerprint": pa.array([1], pa.int64())})
    assert compare_tables(duckdb_side, other).startswith("no")
