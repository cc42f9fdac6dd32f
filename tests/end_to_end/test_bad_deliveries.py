"""Every kind of bad delivery, end to end: real ingestion assets (and dbt, where the behaviour
reaches the marts) on real DuckDB files, one test per behaviour (see docs/bad_deliveries.md).

The session fixture `messy_pipeline` runs the pipeline over the messy landing folder of
`tests/support/messy_landing.py` as a backfill of the first five days and then a nightly run of the
sixth.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingest.contract import SOURCES
from ingest.encoding import decode
from orchestration.defs.raw import ingest_assets
from tests.support import messy_landing as messy
from tests.support import weixi_resources

DAY = date(2025, 3, 1)
GOOD_ORDERS = messy.csv_text(
    messy.ORDER,
    [
        messy.order("O1", "C1", "2025-03-01 10:00:00"),
        messy.order("O2", "C1", "2025-03-01 11:00:00"),
    ],
)


@pytest.fixture(scope="module")
def messy_run(messy_pipeline):
    return messy_pipeline


@pytest.fixture(scope="module")
def con(messy_run):
    with duckdb.connect(str(messy_run.warehouse), read_only=True) as connection:
        yield connection


def _quarantined(con, file: str) -> dict[int, str]:
    rows = con.execute(
        "select _row_number, reason from raw._quarantine where _file = ? order by 1", [file]
    ).fetchall()
    return dict(rows)


def _ingest(warehouse: Path, landing: Path, day: date = DAY) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ingest_assets,
        partition_key=day.isoformat(),
        resources=weixi_resources(warehouse, landing),
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.user_failure_data.description


def _deliver(landing: Path, relative: str, text: str, encoding: str = "utf-8") -> Path:
    return messy.write(landing, relative, text, encoding)


def test_malformed_rows_are_quarantined_with_file_row_and_reason(con):
    assert _quarantined(con, messy.MALFORMED_FILE) == {
        3: "status: 'lost' is not one of paid, shipped, cancelled, refunded",
        4: "ordered_at: 'not a time' is not a valid timestamp",
        5: "order_id: required value missing",
        6: "expected 14 fields, found 6",
    }
    assert _quarantined(con, messy.BAD_JSON_FILE)[2].startswith("invalid JSON")
    loaded = con.execute(
        "select order_id, _row_number from raw.orders__orders where _file = ?",
        [messy.MALFORMED_FILE],
    ).fetchall()
    assert loaded == [("M-OK", 2)]


def test_missing_required_column_fails_the_load_naming_file_and_columns(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    _deliver(landing, "orders/2025-03-01/orders.csv", GOOD_ORDERS)
    assert _ingest(warehouse, landing).success
    bad = _deliver(landing, "orders/2025-03-01/orders_2.csv", "order_id,customer_id\nO3,C1\n")
    result = _ingest(warehouse, landing)
    assert not result.success
    message = _failure(result)
    assert str(bad) in message
    assert "missing required column(s) ordered_at, status, items_amount" in message
    with duckdb.connect(str(warehouse), read_only=True) as c:
        assert c.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
            ("O1",),
            ("O2",),
        ], "the failed load left the day as it was"


def test_changed_column_type_fails_the_load_naming_file_and_columns(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    _deliver(landing, "orders/2025-03-01/orders.csv", GOOD_ORDERS)
    assert _ingest(warehouse, landing).success
    # The shop system now exports amounts with a currency sign and timestamps as epochs.
    changed = GOOD_ORDERS.replace(",100.00,0.00,,100.00,", ",¥100.00,0.00,,¥100.00,")
    changed = changed.replace("2025-03-01 10:00:00", "1740794400").replace(
        "2025-03-01 11:00:00", "1740798000"
    )
    bad = _deliver(landing, "orders/2025-03-01/orders.csv", changed)
    result = _ingest(warehouse, landing)
    assert not result.success
    message = _failure(result)
    assert message.startswith(f"{bad}: column(s) changed type: ")
    for column in ("ordered_at", "items_amount", "total_amount", "updated_at"):
        assert column in message
    assert "none of 2 values is decimal" in message
    with duckdb.connect(str(warehouse), read_only=True) as c:
        assert c.execute("select count(*) from raw.orders__orders").fetchone()[0] == 2
        assert c.execute("select count(*) from raw._quarantine").fetchone()[0] == 0


def test_unknown_extra_column_is_ignored_and_recorded(con, messy_run):
    loads = con.execute(
        "select extra_columns, missing_columns from raw._loads "
        "where source = 'service' and entity = 'tickets' and partition_date = ?",
        [date(2025, 3, 3)],
    ).fetchone()
    assert loads == ("agent_mood", "compensation_amount")
    ticket = con.execute(
        "select status, compensation_amount from raw.service__tickets where ticket_id = 'T-X1'"
    ).fetchone()
    assert ticket == ("open", None)
    (ingest_service,) = [
        m
        for r in messy_run.runs
        for m in r.asset_materializations_for_node("raw__service")
        if m.partition == "2025-03-03"
    ]
    warnings = ingest_service.metadata["warnings"].value
    assert "extra column(s) agent_mood (ignored)" in warnings
    assert "missing column(s) compensation_amount (loaded as empty)" in warnings


def test_same_file_delivered_twice_is_loaded_once(con):
    status = con.execute(
        "select status, duplicate_of from raw._files where file = ?", [messy.RESENT_FILE]
    ).fetchone()
    assert status == ("skipped_duplicate", messy.MALFORMED_FILE)
    hashes = con.execute(
        "select count(distinct sha256) from raw._files where file in (?, ?)",
        [messy.RESENT_FILE, messy.MALFORMED_FILE],
    ).fetchone()[0]
    assert hashes == 1
    counted = con.execute(
        "select count(*) from raw.orders__orders where order_id = 'M-OK'"
    ).fetchone()[0]
    assert counted == 1
    in_facts = con.execute(
        "select count(*) from marts.fct_orders where order_id = 'M-OK'"
    ).fetchone()[0]
    assert in_facts == 1
    skipped = con.execute(
        "select files, files_skipped from raw._loads where source = 'orders' "
        "and entity = 'orders' and partition_date = ?",
        [date(2025, 3, 2)],
    ).fetchone()
    assert skipped[1] == 1


def test_same_content_delivered_for_another_day_is_quarantined_naming_the_original(con):
    reasons = set(_quarantined(con, messy.OTHER_DAY_COPY).values())
    assert reasons == {
        f"duplicate delivery: same content as {messy.CRM_FILE} (delivered for 2025-03-01)"
    }
    assert len(_quarantined(con, messy.OTHER_DAY_COPY)) == 2
    days = con.execute(
        "select distinct _partition_date from raw.crm__customers "
        "where customer_id in ('C-M1', 'C-M2')"
    ).fetchall()
    assert days == [(date(2025, 3, 1),)]


def test_corrected_redelivery_replaces_the_day(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = _deliver(landing, "orders/2025-03-01/orders.csv", GOOD_ORDERS)
    assert _ingest(warehouse, landing).success
    corrected = messy.csv_text(
        messy.ORDER,
        [messy.order("O1", "C1", "2025-03-01 10:00:00", total="80.00", status="refunded")],
    )
    path.write_text(corrected)
    assert _ingest(warehouse, landing).success
    with duckdb.connect(str(warehouse), read_only=True) as c:
        rows = c.execute("select order_id, status, total_amount from raw.orders__orders").fetchall()
        files = c.execute("select file, sha256, rows_read from raw._files").fetchall()
    assert [(o, s, float(t)) for o, s, t in rows] == [("O1", "refunded", 80.0)]
    assert len(files) == 1 and files[0][2] == 1


def test_gbk_crm_export_is_read_exactly(con):
    names = dict(
        con.execute(
            "select customer_id, name from raw.crm__customers where customer_id like 'C-GBK%'"
        ).fetchall()
    )
    assert names == messy.GBK_NAMES
    profile = con.execute(
        "select customer_id, city, occupation from marts.customer_360 "
        "where customer_id like 'C-GBK%' order by 1"
    ).fetchall()
    assert profile == [(cid, city, "工程师") for cid, city in messy.GBK_CITIES.items()]
    encoding = con.execute(
        "select encoding from raw._files where file = ?", [messy.GBK_FILE]
    ).fetchone()[0]
    assert encoding == "gb18030"
    assert con.execute(
        "select encodings from raw._loads where source = 'crm' and entity = 'customers' "
        "and partition_date = ?",
        [date(2025, 3, 3)],
    ).fetchone() == ("gb18030,utf-8",)


def test_undecodable_file_is_refused_naming_file_and_byte(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    text = messy.csv_text(
        messy.CUSTOMERS, [messy.customer("C1", DAY, name="Jürgen Müller", city="Köln")]
    )
    bad = _deliver(landing, "crm/2025-03-01/customers.csv", text, encoding="latin-1")
    result = _ingest(warehouse, landing)
    assert not result.success
    offset = text.encode("utf-8").index("ü".encode())
    message = _failure(result)
    assert message.startswith(f"{bad}: not valid UTF-8 at byte {offset} ")
    assert "not Chinese text in GBK either" in message and "re-export" in message


def test_negative_and_absurd_amounts_are_quarantined_with_the_rule(con):
    orders = _quarantined(con, messy.AMOUNTS_FILE)
    assert orders[2] == (
        "items_amount: '-5.00' is below the minimum 0; total_amount: '-5.00' is below the minimum 0"
    )
    assert "total_amount: '2000000.00' is above the limit 1,000,000 (max_amount)" in orders[3]
    assert _quarantined(con, messy.LINES_FILE) == {
        2: "quantity: '20000' is above the limit 10,000 (max_quantity)",
        3: "quantity: '0' is below the minimum 1",
        4: "unit_price: '-1.00' is below the minimum 0",
    }
    kept = con.execute(
        "select order_id, line_number from raw.orders__order_lines where _file = ?",
        [messy.LINES_FILE],
    ).fetchall()
    assert kept == [("A-OK", 4)]
    assert con.execute(
        "select order_id from marts.fct_orders where order_id like 'A-%'"
    ).fetchall() == [("A-OK",)]


def test_future_dates_are_quarantined(con):
    assert _quarantined(con, messy.FUTURE_FILE) == {
        2: "ordered_at: '2030-01-01 10:00:00' is later than its delivery day (in the future)",
        3: "ordered_at: '2025-03-05 02:00:00' is later than its delivery day (in the future)",
    }
    assert _quarantined(con, messy.FUTURE_CRM_FILE) == {
        2: "signup_date: '2025-03-09' is later than its delivery day (in the future)"
    }
    # Within the tolerance (1 hour past the end of the delivery day): kept, on its own date.
    tolerated = con.execute(
        "select order_date, delivered_on from marts.fct_orders where order_id = 'F-TOLERATED'"
    ).fetchone()
    assert tolerated == (date(2025, 3, 5), date(2025, 3, 4))


def test_orders_for_unknown_customers_are_kept_and_flagged(con):
    orders = con.execute(
        "select order_id, customer_id, match_method, customer_in_crm, net_revenue "
        "from marts.fct_orders where order_id like 'U-%' order by 1"
    ).fetchall()
    assert [o[:4] for o in orders] == [
        # The CRM row of C-LATE arrived a day after its order: the nightly run set the flag.
        ("U-LATE", "C-LATE", "customer_id", True),
        ("U-NEVER", "C-NOT-IN-CRM", "customer_id", False),
    ]
    assert all(o[4] > 0 for o in orders), "kept in revenue"
    unknown = con.execute(
        "select count(*) from marts.fct_orders where not customer_in_crm "
        "and customer_id is not null"
    ).fetchone()[0]
    assert unknown == 1


def test_events_at_midnight_land_in_exactly_one_day(con):
    raw = con.execute(
        "select order_id, list(_partition_date) from raw.orders__orders "
        "where order_id like 'E-%' group by 1 order by 1"
    ).fetchall()
    assert raw == [
        ("E-0000", [date(2025, 3, 3)]),
        ("E-2359", [date(2025, 3, 2)]),
        ("E-UTC", [date(2025, 3, 3)]),
    ]
    facts = con.execute(
        "select order_id, ordered_at, order_date from marts.fct_orders "
        "where order_id like 'E-%' order by 1"
    ).fetchall()
    assert [(o, str(t), d) for o, t, d in facts] == [
        ("E-0000", "2025-03-03 00:00:00", date(2025, 3, 3)),
        ("E-2359", "2025-03-02 23:59:59", date(2025, 3, 2)),
        # 15:59:59 UTC is 23:59:59 in Shanghai: still 3 March, not 4 March.
        ("E-UTC", "2025-03-03 23:59:59", date(2025, 3, 3)),
    ]
    per_day = dict(
        con.execute(
            "select order_date, count(*) from marts.fct_orders where is_purchase group by 1"
        ).fetchall()
    )
    kpi = dict(con.execute("select kpi_date, orders from marts.kpi_daily").fetchall())
    assert all(kpi.get(d, 0) == n for d, n in per_day.items())


def _records_in(path: Path) -> int:
    text = decode(path.read_bytes()).text
    if path.suffix == ".jsonl":
        return sum(1 for line in text.splitlines() if line.strip())
    return sum(1 for fields in csv.reader(io.StringIO(text, newline="")) if fields) - 1


def test_rows_read_equal_rows_loaded_plus_quarantined_for_every_partition(con, messy_run):
    skipped = {
        f
        for (f,) in con.execute(
            "select file from raw._files where status = 'skipped_duplicate'"
        ).fetchall()
    }
    assert skipped == {messy.RESENT_FILE}
    checked = 0
    for source in SOURCES:
        for entity in source.entities:
            table = source.raw_table(entity)
            for day in messy.DAYS:
                folder = messy_run.landing / source.name / day.isoformat()
                files = sorted(folder.glob(entity.file_glob))
                relative = {p: p.relative_to(messy_run.landing).as_posix() for p in files}
                delivered = sum(_records_in(p) for p in files if relative[p] not in skipped)
                loaded = con.execute(
                    f"select count(*) from {table} where _partition_date = ?", [day]
                ).fetchone()[0]
                quarantined = con.execute(
                    "select count(*) from raw._quarantine where source = ? and entity = ? "
                    "and _partition_date = ?",
                    [source.name, entity.name, day],
                ).fetchone()[0]
                recorded = con.execute(
                    "select rows_read, rows_loaded, rows_quarantined from raw._loads "
                    "where source = ? and entity = ? and partition_date = ?",
                    [source.name, entity.name, day],
                ).fetchone()
                where = f"{table} {day}"
                assert delivered == loaded + quarantined, where
                assert recorded == (delivered, loaded, quarantined), where
                checked += delivered
    assert checked > 400
    total_quarantined = con.execute("select count(*) from raw._quarantine").fetchone()[0]
    assert total_quarantined == 15
