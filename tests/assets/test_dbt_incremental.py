"""The incremental dbt path gives the warehouse a full rebuild gives: after the demo pipeline, a
new delivery day that corrects two orders of an early day (one refunded, one cancelled) and
changes the customers of three guest orders (a new CRM customer with an unmatched order's e-mail,
another with a matched order's e-mail, an e-mail changed) runs incrementally, and every
table and view of the dbt layers must then equal, row for row, what ``dbt build
--full-refresh`` makes of the same raw tables (but for the run marker ``rematched_for``)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import duckdb
import pytest

from tests.support import (
    DEMO_END,
    DEMO_START,
    SCORED_DBT,
    code_location_assets,
    pipeline_assets,
    range_tags,
    run_dbt,
    weixi_resources,
)

DBT_SCHEMAS = ("staging", "intermediate", "features", "marts")
CORRECTION_DAY = DEMO_END + timedelta(days=1)
EARLY_DAY = DEMO_START + timedelta(days=3)
FIRST_MONTH = DEMO_START.replace(day=1)
NEW_CUSTOMER = "C9999999"
SHARING_CUSTOMER = "C9999998"
RUN_MARKERS = ("rematched_for",)
"""Columns that name the run that last wrote a row, so differ between the two paths."""


def table_digests(warehouse: Path, schemas: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every table and view of ``schemas``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) order by 1",
            [list(schemas)],
        ).fetchall()
        digests = {}
        for (table,) in tables:
            columns = {
                name
                for (name,) in con.execute(
                    f"select name from pragma_table_info('{table}')"
                ).fetchall()
            }
            markers = ", ".join(m for m in RUN_MARKERS if m in columns)
            rows = f"(select * exclude ({markers}) from {table})" if markers else table
            digests[table] = con.execute(
                f"select count(*), md5(coalesce(string_agg(h, '' order by h), '')) "
                f"from (select md5(cast(t as varchar)) as h from {rows} as t)"
            ).fetchone()
        return digests


def write_corrections(landing: Path) -> tuple[str, str]:
    """Deliver on CORRECTION_DAY new versions of two matched orders placed on EARLY_DAY: the
    first refunded in full, the second cancelled. Returns their order ids."""
    with (landing / "orders" / EARLY_DAY.isoformat() / "orders.csv").open(newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["customer_id"]
            and r["status"] != "cancelled"
            # A day's file also re-delivers older orders whose status changed.
            and r["ordered_at"].startswith(EARLY_DAY.isoformat())
        ]
    refunded, cancelled = rows[0], rows[1]
    updated_at = f"{CORRECTION_DAY.isoformat()} 10:00:00"
    refunded.update(
        status="refunded", refund_amount=refunded["total_amount"], updated_at=updated_at
    )
    cancelled.update(status="cancelled", updated_at=updated_at)
    folder = landing / "orders" / CORRECTION_DAY.isoformat()
    folder.mkdir(parents=True)
    with (folder / "orders.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(refunded), quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows([refunded, cancelled])
    return refunded["order_id"], cancelled["order_id"]


class CrmChanges(NamedTuple):
    """Guest orders whose match the correction day's CRM delivery changes."""

    joined: str
    """Matched no customer; a new customer gives its e-mail."""
    moved: str
    """Matched its customer by e-mail; that customer's e-mail changes."""
    shared: str
    """Matched its customer by e-mail; a new customer gives the same e-mail."""


def _guest_orders(warehouse: Path) -> tuple[tuple, tuple, tuple]:
    """(order id, e-mail) of the earliest guest order that matched no customer, and (order id,
    e-mail, customer id) of the two earliest matched by their customer's own e-mail (the second
    of another customer)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        unmatched = con.execute(
            """select order_id, guest_email from raw.orders__orders
            where order_id in (
                select order_id from marts.fct_orders where match_method = 'unmatched'
            ) and guest_email <> ''
            order by ordered_at, order_id limit 1"""
        ).fetchone()
        by_email = con.execute(
            """select orders.order_id, orders.guest_email, fct.customer_id
            from raw.orders__orders as orders
            join marts.fct_orders as fct using (order_id)
            join staging.stg_crm__customers as customers
                on customers.customer_id = fct.customer_id
            where fct.match_method = 'email'
                and lower(trim(orders.guest_email)) = lower(trim(customers.email))
            order by orders.ordered_at, orders.order_id"""
        ).fetchall()
    first = by_email[0]
    second = next(row for row in by_email if row[2] != first[2])
    return unmatched, first, second


def _latest_crm_row(landing: Path, customer_id: str) -> dict[str, str]:
    """The latest version of ``customer_id`` among the CRM deliveries of ``landing``."""
    versions = []
    for path in sorted(landing.glob("crm/*/customers.csv")):
        with path.open(newline="") as f:
            versions += [row for row in csv.DictReader(f) if row["customer_id"] == customer_id]
    return max(versions, key=lambda row: row["updated_at"])


def write_crm_changes(landing: Path, warehouse: Path) -> CrmChanges:
    """Deliver on CORRECTION_DAY new CRM customers with the e-mail of an early unmatched guest
    order and of an order matched by e-mail, and a new e-mail for the customer of another."""
    (joined, joined_email), (moved, _, moved_customer), (shared, shared_email, _) = _guest_orders(
        warehouse
    )
    with (landing / "crm" / EARLY_DAY.isoformat() / "customers.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        columns, template = list(reader.fieldnames), next(reader)
    updated_at = f"{CORRECTION_DAY.isoformat()} 09:00:00"
    new = {"signup_date": CORRECTION_DAY.isoformat(), "phone": "", "updated_at": updated_at}
    rows = [
        {**template, **new, "customer_id": NEW_CUSTOMER, "email": joined_email},
        {**template, **new, "customer_id": SHARING_CUSTOMER, "email": shared_email},
        {
            **_latest_crm_row(landing, moved_customer),
            "email": f"moved.{moved_customer.lower()}@example.com",
            "updated_at": updated_at,
        },
    ]
    folder = landing / "crm" / CORRECTION_DAY.isoformat()
    folder.mkdir(parents=True)
    with (folder / "customers.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return CrmChanges(joined, moved, shared)


def full_refresh(warehouse: Path, resources: dict, target: Path) -> None:
    """``dbt build --full-refresh`` of every model before the model assets on ``warehouse``."""
    build = run_dbt(
        ["build", "--full-refresh", "--exclude", "tag:scored"], resources, warehouse, target
    )
    assert build.returncode == 0, build.stdout[-4000:]


@pytest.fixture(scope="module")
def corrected(
    pipeline_warehouse, demo_landing, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict, tuple[str, str], CrmChanges]:
    """A copy of the demo pipeline's warehouse after the correction day ran incrementally, once
    for the module (the tests read it; the full-refresh test rebuilds a copy of it)."""
    folder = tmp_path_factory.mktemp("corrected")
    landing = folder / "landing"
    shutil.copytree(demo_landing, landing)
    order_ids = write_corrections(landing)
    crm_changes = write_crm_changes(landing, pipeline_warehouse[0])
    warehouse = folder / "incremental.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    resources = weixi_resources(warehouse, landing)
    result = dg.materialize(
        pipeline_assets(), resources=resources, tags=range_tags(CORRECTION_DAY, CORRECTION_DAY)
    )
    assert result.success
    return warehouse, resources, order_ids, crm_changes


def _day_and_orders(warehouse: Path, order_ids: tuple[str, str]) -> tuple[tuple, dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        day = con.execute(
            "select orders, revenue from marts.kpi_daily where kpi_date = ?", [EARLY_DAY]
        ).fetchone()
        orders = {
            order_id: (status, net_revenue)
            for order_id, status, net_revenue in con.execute(
                "select order_id, order_status, net_revenue from marts.fct_orders "
                "where order_id in (?, ?)",
                list(order_ids),
            ).fetchall()
        }
    return day, orders


def test_late_correction_reaches_the_marts_incrementally(pipeline_warehouse, corrected):
    warehouse, _, (refunded, cancelled), _ = corrected
    (orders_before, revenue_before), before = _day_and_orders(pipeline_warehouse[0], corrected[2])
    (orders_after, revenue_after), after = _day_and_orders(warehouse, corrected[2])
    assert {k: status for k, (status, _) in after.items()} == {
        refunded: "refunded",
        cancelled: "cancelled",
    }
    assert orders_after == orders_before - 1
    assert revenue_after == revenue_before - before[refunded][1] - before[cancelled][1]


def test_guest_orders_follow_the_crm_changes_of_a_later_day(corrected):
    warehouse, _, _, changes = corrected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        matched = {
            order_id: (customer_id, match_method, rematched_for)
            for order_id, customer_id, match_method, rematched_for in con.execute(
                "select order_id, customer_id, match_method, rematched_for "
                "from marts.fct_orders where order_id in (select unnest(?))",
                [list(changes)],
            ).fetchall()
        }
        [(orders,)] = con.execute(
            "select lifetime_orders from marts.customer_360 where customer_id = ?",
            [NEW_CUSTOMER],
        ).fetchall()
    assert matched[changes.joined] == (NEW_CUSTOMER, "email", CORRECTION_DAY)
    assert orders >= 1
    # An e-mail that left its customer, or is now shared by two, matches nobody through it.
    for order in (changes.moved, changes.shared):
        assert matched[order][1:] in {("phone", CORRECTION_DAY), ("unmatched", CORRECTION_DAY)}


def test_incremental_path_equals_a_full_refresh(corrected, tmp_path):
    warehouse, resources, _, _ = corrected
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(warehouse, rebuilt)
    full_refresh(rebuilt, resources, tmp_path / "dbt_target")

    incremental, full = table_digests(warehouse, DBT_SCHEMAS), table_digests(rebuilt, DBT_SCHEMAS)
    assert {"marts.kpi_daily", "features.churn_feature_snapshots"} <= set(full)
    differing = {t: (incremental.get(t), full[t]) for t in full if incremental.get(t) != full[t]}
    assert not differing


def _churn_snapshots(warehouse: Path, resources: dict, target: Path, train_churn: bool):
    """After ``dbt run`` of churn_feature_snapshots on ``warehouse`` (with or without the
    training snapshots): the count of training rows, and the row count and content hash of
    the scoring snapshot (the reference date's rows)."""
    run = run_dbt(
        ["run", "-s", "churn_feature_snapshots"], resources, warehouse, target, train_churn
    )
    assert run.returncode == 0, run.stdout[-4000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select count(*) filter (where not is_scoring_snapshot), "
            "count(*) filter (where is_scoring_snapshot), "
            "md5(string_agg(h, '' order by h) filter (where is_scoring_snapshot)) "
            "from (select *, md5(cast(t as varchar)) as h "
            "from features.churn_feature_snapshots as t)"
        ).fetchone()


def test_the_scoring_snapshot_is_the_same_without_the_training_ones(
    corrected, demo_landing, tmp_path
):
    """A night that does not retrain reads every order in one pass instead of running totals:
    its snapshot must equal the reference date's rows of a training night, the correction
    included. Weekly snapshots, so that the demo's ten weeks hold training ones."""
    warehouse = corrected[0]
    resources = weixi_resources(
        warehouse, demo_landing, churn_horizon_days=7, churn_snapshot_step_days=7
    )
    trained, scoring = tmp_path / "trained.duckdb", tmp_path / "scoring.duckdb"
    shutil.copy(warehouse, trained)
    shutil.copy(warehouse, scoring)
    training_rows, *with_training = _churn_snapshots(trained, resources, tmp_path / "t", True)
    no_training_rows, *without = _churn_snapshots(scoring, resources, tmp_path / "s", False)
    assert training_rows > 0 and no_training_rows == 0
    assert with_training[0] > 0
    assert without == with_training


def test_segment_history_kept_incrementally_equals_a_full_refresh(
    scored_warehouse, ml_landing, tmp_path
):
    # A late correction as fct_orders holds it after the night that loads it (the path from
    # landing to fct_orders is tested above): every purchase of a day in the middle of the
    # history cancelled. The scored marts' night recomputes the snapshots from that day on and
    # keeps the others, and recounts the migrations of the pairs those snapshots are in; both
    # tables must equal a rebuild of every snapshot and pair.
    incremental = tmp_path / "incremental.duckdb"
    shutil.copy(scored_warehouse, incremental)
    with duckdb.connect(str(incremental)) as con:
        day = con.execute("select min(order_date) + 200 from marts.fct_orders").fetchone()[0]
        con.execute(
            "update marts.fct_orders set net_revenue = 0, is_purchase = false "
            "where order_date = ? and is_purchase",
            [day],
        )
    resources = weixi_resources(incremental, ml_landing)
    assert dg.materialize(code_location_assets(SCORED_DBT), resources=resources).success
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(incremental, rebuilt)
    build = run_dbt(
        ["build", "--full-refresh", "-s", "segment_history", "segment_migrations"],
        resources,
        rebuilt,
        tmp_path / "dbt",
    )
    assert build.returncode == 0, build.stdout[-4000:]

    kept, full = table_digests(incremental, ("marts",)), table_digests(rebuilt, ("marts",))
    before = table_digests(scored_warehouse, ("marts",))
    for table in ("marts.segment_history", "marts.segment_migrations"):
        assert kept[table] == full[table], table
        assert kept[table] != before[table], (table, day)


# Bad rows planted as delivered on EARLY_DAY, for the data tests a night scopes to its window:
# (SQL planting a row, the tests it breaks).
PLANTED_ON_EARLY_DAY = [
    (
        # a copy of a line under an order that fct_orders does not hold: its key repeats
        "insert into marts.fct_order_lines select * replace ('no such order' as order_id) "
        "from marts.fct_order_lines where delivered_on = $day limit 1",
        {
            "unique_in_window_fct_order_lines_order_line_id__delivered_on",
            "relationships_in_window_fct_order_lines_order_id__order_id__ref_fct_orders___delivered_on",
        },
    ),
    (
        "insert into marts.fct_orders select * from marts.fct_orders "
        "where delivered_on = $day order by order_id limit 1",
        {"unique_in_window_fct_orders_order_id__delivered_on"},
    ),
    (
        "update marts.fct_orders set updated_at = updated_at - interval 1 hour "
        "where order_id = (select max(order_id) from marts.fct_orders where delivered_on = $day)",
        {"assert_fct_orders_holds_latest_versions"},
    ),
    (
        "insert into intermediate.int_orders__status_history select * "
        "from intermediate.int_orders__status_history where order_id = "
        "(select min(order_id) from marts.fct_orders where delivered_on = $day)",
        {
            "unique_in_window_int_orders__status_history_order_id__source_orders_orders____partition_date"
        },
    ),
    (
        "insert into staging.base_orders__orders select * from staging.base_orders__orders "
        "where _partition_date = $day order by order_id limit 1",
        {"unique_in_window_base_orders__orders_order_id___partition_date"},
    ),
]
SCOPED_MODELS = [
    "fct_orders",
    "fct_order_lines",
    "int_orders__status_history",
    "base_orders__orders",
]


def test_a_nights_tests_find_the_bad_rows_of_its_window_and_a_full_run_all(
    pipeline_warehouse, demo_landing, tmp_path, monkeypatch
):
    # The night of EARLY_DAY must find every bad row (its tests read the rows it delivered and
    # probe all history with their keys); the night of another day need not (EARLY_DAY's night
    # proved those rows); a run without a window (a full build), or with one of more than 92
    # days (a backfill, where reading everything costs less), finds them all, long after.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        for sql, _ in PLANTED_ON_EARLY_DAY:
            con.execute(sql, {"day": EARLY_DAY})
    resources = weixi_resources(warehouse, demo_landing)
    windows = {
        "early night": (EARLY_DAY, EARLY_DAY),
        "last night": (DEMO_END, DEMO_END),
        "100 days ahead": (DEMO_END + timedelta(days=1), DEMO_END + timedelta(days=100)),
        "none": None,
    }
    found = {}
    for name, window in windows.items():
        for i, variable in enumerate(("WEIXI_DBT_MIN_DATE", "WEIXI_DBT_MAX_DATE")):
            if window is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, window[i].isoformat())
        target = tmp_path / name.replace(" ", "_")
        args = ["test", "--exclude-resource-type", "unit_test", "-s", *SCOPED_MODELS]
        run_dbt(args, resources, warehouse, target)
        results = json.loads((target / "run_results.json").read_text())["results"]
        found[name] = {
            r["unique_id"].split(".")[2] for r in results if r["status"] in ("fail", "warn")
        }
    planted = set().union(*(tests for _, tests in PLANTED_ON_EARLY_DAY))
    assert found == {
        "early night": planted,
        "last night": set(),
        "100 days ahead": planted,
        "none": planted,
    }


def test_item_pairs_are_recounted_everywhere_when_a_product_changes_subcategory(
    pipeline_warehouse, demo_landing, tmp_path, monkeypatch
):
    # The per-day pair counts of a night's window only, but a product moved to another
    # subcategory (its latest catalogue row changed) changes the subcategory pairs of every
    # day it was bought: the incremental run must then equal a full rebuild.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        moved = con.execute(
            "update raw.orders__products set subcategory = subcategory || ' (moved)' "
            "where product_id = (select product_id from marts.fct_order_lines "
            "group by all order by count(*) desc, product_id limit 1) returning product_id"
        ).fetchall()
    assert moved
    resources = weixi_resources(warehouse, demo_landing)
    monkeypatch.setenv("WEIXI_DBT_MIN_DATE", DEMO_END.isoformat())
    monkeypatch.setenv("WEIXI_DBT_MAX_DATE", DEMO_END.isoformat())
    models = ["-s", "int_orders__item_pairs_by_day", "product_associations"]
    run = run_dbt(["run", *models], resources, warehouse, tmp_path / "incremental")
    assert run.returncode == 0, run.stdout[-4000:]
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(warehouse, rebuilt)
    build = run_dbt(["run", "--full-refresh", *models], resources, rebuilt, tmp_path / "full")
    assert build.returncode == 0, build.stdout[-4000:]

    tables = ("intermediate.int_orders__item_pairs_by_day", "marts.product_associations")
    kept, full = table_digests(warehouse, DBT_SCHEMAS), table_digests(rebuilt, DBT_SCHEMAS)
    assert [kept[t] for t in tables] == [full[t] for t in tables]
    before = table_digests(pipeline_warehouse[0], ("intermediate",))
    assert kept[tables[0]] != before[tables[0]]


def test_kpi_monthly_recomputes_only_the_months_a_night_can_change(
    pipeline_warehouse, demo_landing, tmp_path, monkeypatch
):
    # A night with no late correction recomputes the last month(s) and keeps the earlier ones:
    # a mark left on the first month stays, and every recomputed month equals the full build.
    # (The late correction, which recomputes from its month, is the full-refresh test above.)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.kpi_monthly set nps = -1 where month = ?", [FIRST_MONTH])
    monkeypatch.setenv("WEIXI_DBT_MIN_DATE", DEMO_END.isoformat())
    monkeypatch.setenv("WEIXI_DBT_MAX_DATE", DEMO_END.isoformat())
    resources = weixi_resources(warehouse, demo_landing)
    run = run_dbt(["run", "-s", "kpi_monthly"], resources, warehouse, tmp_path / "dbt")
    assert run.returncode == 0, run.stdout[-4000:]

    query = "select * from marts.kpi_monthly order by month"
    with duckdb.connect(str(pipeline_warehouse[0]), read_only=True) as con:
        built = con.execute(query).fetchall()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = con.execute(query).fetchall()
        first = con.execute("select month, nps from marts.kpi_monthly order by month limit 1")
        assert first.fetchone() == (FIRST_MONTH, -1)
    assert len(kept) == len(built) > 2
    assert kept[1:] == built[1:]
