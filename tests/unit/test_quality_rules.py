"""The data-quality library without Dagster: rules from the contract, planted bad rows, engine
errors, volume, freshness and the results tables, on real DuckDB tables and GX validations."""

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from data_quality.checks import check_raw_source, check_table, check_volume, day_chunks, merge
from data_quality.freshness import source_freshness
from data_quality.gx import gxe
from data_quality.marts import table_rules
from data_quality.offline_docs import EXTERNAL_URL
from data_quality.raw_rules import raw_rules
from data_quality.results import CheckRun, record_results
from data_quality.rules import CONTRACT, PLAUSIBILITY, Rule
from data_quality.table_rules import MART_RULES, TableRules, registered
from data_quality.validation import EngineError, build_docs, page_url, validate_frame
from ingest.contract import LINEAGE_COLUMNS, ORDERS, SOCIAL, Column
from ingest.loader import ensure_raw_tables

DAY = date(2025, 6, 30)
NOW = datetime(2025, 7, 1, 9, 0)
ORDER_COLUMNS = (
    "order_id, customer_id, guest_email, guest_phone, ordered_at, status, channel, currency, "
    "items_amount, discount_amount, shipping_amount, total_amount, refund_amount, updated_at, "
    "_partition_date, _file, _row_number, _load_id, _loaded_at"
)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory):
    """One Data Docs folder, so the module reuses one GX context and its suites."""
    return tmp_path_factory.mktemp("docs")


def _order(order_id: str, day: date = DAY, **changes: object) -> dict[str, object]:
    row = {
        "order_id": order_id,
        "customer_id": "C0000001",
        "guest_email": None,
        "guest_phone": None,
        "ordered_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=10),
        "status": "paid",
        "channel": "app",
        "currency": "CNY",
        "items_amount": 100,
        "discount_amount": 0,
        "shipping_amount": 10,
        "total_amount": 110,
        "refund_amount": None,
        "updated_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=10),
        "_partition_date": day,
        "_file": f"orders/{day}/orders.csv",
        "_row_number": 1,
        "_load_id": "load-1",
        "_loaded_at": NOW,
    }
    return row | changes


def _warehouse(tmp_path, orders: list[dict[str, object]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_tables(con, (ORDERS,))
    names = [c.strip() for c in ORDER_COLUMNS.split(",")]
    con.executemany(
        f"insert into raw.orders__orders ({ORDER_COLUMNS}) values ({', '.join('?' * len(names))})",
        [[row[n] for n in names] for row in orders],
    )
    return con


def _failed(results) -> dict[str, int | None]:
    return {r.rule: r.unexpected for r in results if not r.passed}


def test_every_contract_column_gets_rules_without_new_code():
    entity = ORDERS.entities[0]
    columns = set(entity.column_names) | set(LINEAGE_COLUMNS) | {"_delivered_by"}
    typed = {
        r.expectation.configuration.kwargs["column"]
        for r in raw_rules(ORDERS, entity, columns)
        if r.expectation.expectation_type == "expect_column_values_to_be_of_type"
    }
    assert typed == set(entity.column_names) | set(LINEAGE_COLUMNS)

    # A column added to the contract gets its rules from what the contract says about it.
    new = Column("loyalty_channel", "string", "new", required=True, allowed=("app", "web"))
    grown = replace(entity, columns=(*entity.columns, new))
    rules = {r.name for r in raw_rules(ORDERS, grown, columns | {"loyalty_channel"})}
    assert {
        "values_to_be_of_type(loyalty_channel)",
        "values_to_not_be_null(loyalty_channel)",
        "values_to_be_in_set(loyalty_channel)",
        "blank stored as null(loyalty_channel)",
    } <= rules


def test_clean_delivery_passes_every_rule(tmp_path, docs):
    con = _warehouse(tmp_path, [_order("O1"), _order("O2", guest_email=" Li@Example.com ")])
    results = merge(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
    assert results and _failed(results) == {}


def test_each_planted_bad_row_fails_its_rule(tmp_path, docs):
    late = datetime.combine(DAY + timedelta(days=1), datetime.min.time()) + timedelta(hours=1)
    orders = [
        _order("O1"),
        _order("O1", _row_number=2),  # the same order twice in one delivery
        _order("O1", day=DAY - timedelta(days=1)),  # again the next day: a change, fine
        _order("O2", status="pending"),
        _order("O3", total_amount=-5),
        _order("O4", ordered_at=late),
        _order("O5", guest_email="not an e-mail", guest_phone="call me"),
        _order("O6", refund_amount=500),
        _order("O7", channel=""),  # the loader keeps blanks of coded columns
    ]
    con = _warehouse(tmp_path, orders)
    results = merge(check_raw_source(con, ORDERS, DAY - timedelta(days=1), DAY, NOW, docs, "t"))
    failed = _failed(results)
    assert failed == {
        "key unique within a delivery(order_id)": 2,
        "values_to_be_in_set(status)": 1,
        "values_to_be_between(total_amount)": 1,
        "not after the delivery day(ordered_at)": 1,
        "values_to_match_regex(guest_email)": 1,
        "values_to_match_regex(guest_phone)": 1,
        "total_amount not before or below refund_amount": 1,
        "blank stored as null(channel)": 1,
    }
    check_of = {r.rule: r.check for r in results}
    assert check_of["key unique within a delivery(order_id)"] == CONTRACT
    assert check_of["values_to_match_regex(guest_email)"] == PLAUSIBILITY
    assert check_of["blank stored as null(channel)"] == PLAUSIBILITY


def test_missing_contract_column_is_a_contract_failure_not_an_engine_error(tmp_path, docs):
    con = _warehouse(tmp_path, [_order("O1")])
    con.execute("alter table raw.orders__orders drop column channel")
    results = merge(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
    failed = {r.rule: r for r in results if not r.passed}
    assert list(failed) == ["contract columns present"]
    assert failed["contract columns present"].detail == "missing columns: channel"


@pytest.mark.parametrize(
    "expectation, message",
    [
        (gxe.ExpectColumnValuesToMatchRegex(column="order_id", regex="(["), "regular expression"),
        (gxe.ExpectColumnValuesToBeBetween(column="no_such_column", min_value=0), "no_such_column"),
    ],
)
def test_an_expectation_gx_cannot_evaluate_raises_naming_table_and_rule(
    tmp_path, expectation, message, docs
):
    con = _warehouse(tmp_path, [_order("O1")])
    frame = con.execute("select * from raw.orders__orders").df()
    rules = [Rule(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), CONTRACT)]
    rules.append(Rule(expectation, CONTRACT, "broken rule"))
    with pytest.raises(EngineError) as error:
        validate_frame(docs, "raw.orders__orders", frame, rules, "t")
    assert "raw.orders__orders" in str(error.value) and "broken rule" in str(error.value)
    assert message in str(error.value)


def test_a_range_is_checked_in_chunks_of_whole_days_with_the_same_result(tmp_path, docs):
    days = [DAY - timedelta(days=n) for n in range(4)]
    con = _warehouse(tmp_path, [_order(f"O{d.day}-{i}", day=d) for d in days for i in range(3)])
    con.execute("update raw.orders__orders set status = 'lost' where order_id = 'O27-1'")
    assert list(day_chunks(con, "raw.orders__orders", days[-1], DAY, 6)) == [
        (date(2025, 6, 27), date(2025, 6, 28)),
        (date(2025, 6, 29), date(2025, 6, 30)),
    ]
    whole = merge(check_raw_source(con, ORDERS, days[-1], DAY, NOW, docs, "t"))
    chunked = merge(check_raw_source(con, ORDERS, days[-1], DAY, NOW, docs, "t", max_rows=6))
    assert _failed(whole) == _failed(chunked) == {"values_to_be_in_set(status)": 1}
    assert {r.rule: r.rows for r in whole} == {r.rule: r.rows for r in chunked}


def _loads(con, rows_by_day: dict[date, int], source: str = "social") -> None:
    ensure_raw_tables(con, (SOCIAL,))
    con.executemany(
        "insert into raw._loads (load_id, source, entity, partition_date, files, rows_read, "
        "rows_loaded, rows_quarantined, extra_columns, loaded_at) "
        "values ('run-1', ?, 'posts', ?, 1, ?, ?, 0, null, ?)",
        [[source, day, n, n, NOW] for day, n in rows_by_day.items()],
    )


def test_volume_warns_on_an_empty_day_and_on_a_spike_only(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    start = DAY - timedelta(days=20)
    history = {start + timedelta(days=n): 40 + n % 3 for n in range(21)}
    history[DAY - timedelta(days=2)] = 0  # valid, but unusual
    history[DAY - timedelta(days=1)] = 400  # ten times the usual volume
    _loads(con, history)
    validation = check_volume(con, SOCIAL, DAY - timedelta(days=5), DAY, docs, "t")
    assert _failed(validation.results) == {
        "delivery not empty": 1,
        "rows within 0.2-5 x the 28-day median": 2,  # the empty day and the spike
    }
    normal = check_volume(con, SOCIAL, DAY, DAY, docs, "t")
    assert _failed(normal.results) == {}


def test_freshness_counts_hours_from_the_end_of_the_newest_delivered_day(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _loads(con, {DAY - timedelta(days=3): 10})
    con.execute(
        "insert into raw._loads (load_id, source, entity, partition_date, files, rows_read, "
        "rows_loaded, rows_quarantined, extra_columns, loaded_at) "
        "values ('run-2', 'social', 'posts', ?, 0, 0, 0, 0, null, ?)",
        [DAY, NOW],
    )
    stale = source_freshness(con, "social", NOW, 36)  # a day without files is no delivery
    assert stale.last_delivery == DAY - timedelta(days=3)
    assert stale.hours_since == pytest.approx(3 * 24 + 9) and not stale.fresh
    fresh = source_freshness(con, "social", datetime(2025, 6, 29, 6), 36)
    assert fresh.hours_since == pytest.approx(30) and fresh.fresh
    assert source_freshness(con, "crm", NOW, 36).last_delivery is None


def test_results_are_recorded_once_per_run_and_summed_with_the_loads(tmp_path, docs):
    con = _warehouse(tmp_path, [_order("O1"), _order("O2", status="pending")])
    _loads(con, {DAY: 2}, source="orders")
    con.execute("update raw._loads set rows_loaded = 1, rows_quarantined = 1")
    results = merge(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
    run = CheckRun("run-1", "raw", "orders", DAY, DAY)
    for _ in range(2):  # a retried step records again
        record_results(con, run, ["contract", "plausibility"], results, NOW)
    rows = con.execute("select count(*) from quality.check_results").fetchone()[0]
    assert rows == len(results)
    summary = con.execute(
        "select rows_in, rows_loaded, rows_quarantined, checks_passed, checks_failed, "
        "blocking_failures from marts.data_quality_runs"
    ).fetchall()
    assert summary == [(2, 1, 1, len(results) - 1, 1, 1)]


def test_registry_covers_the_model_marts_and_registers_only_existing_tables():
    tables = {entry.table for entry in MART_RULES}
    assert {
        "marts.customer_360",
        "marts.customer_rfm",
        "marts.kpi_daily",
        "marts.fct_orders",
        "marts.identity_match_rates",
        "marts.churn_scores",
        "marts.customer_value",
        "marts.customer_personas",
        "marts.recommendations",
        "marts.product_associations",
        "marts.model_validation",
    } <= tables
    existing = {("marts", "customer_360"), ("raw", "orders")}
    assert [e.table for e in registered(existing)] == ["marts.customer_360"]


def test_a_table_rule_on_a_missing_column_fails_the_table_not_the_engine(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute("create table marts.scores as select 'C1' as customer_id, 0.5 as probability")
    entry = TableRules("marts.scores", key=("customer_id",), probabilities=("probability", "p2"))
    validation = check_table(con, entry, docs, "t")[0]
    assert {r.rule: r.detail for r in validation.failed()} == {
        "columns present": "missing columns: p2"
    }
    con.execute("insert into marts.scores values ('C1', 1.5)")
    failed = _failed(check_table(con, entry, docs, "t")[0].results)
    assert failed == {
        "columns present": None,
        "one row per customer_id": 2,
        "probability in [0, 1](probability)": 1,
    }
    assert len(table_rules(entry, {"customer_id"})) < len(
        table_rules(entry, {"customer_id", "probability"})
    )


def test_data_docs_keep_the_newest_results_of_each_table(tmp_path):
    docs = tmp_path / "docs"
    frame = _warehouse(tmp_path, [_order("O1")]).execute("select * from raw.orders__orders").df()
    rules = [Rule(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), CONTRACT)]
    pages = []
    for run in range(4):
        validation = validate_frame(docs, "raw.orders__orders", frame, rules, f"run{run}")
        build_docs(docs, [validation], keep=2)
        pages.append(page_url(docs, validation))
    results = list((docs / ".gx" / "validations" / "raw" / "orders__orders").rglob("*.json"))
    assert len(results) == 2
    kept = [Path(p.removeprefix("file://")).is_file() for p in pages]
    assert kept == [False, False, True, True]
    assert "run3" in (docs / "index.html").read_text(encoding="utf-8")


def test_data_docs_open_offline_with_every_result_listed_in_html(tmp_path):
    docs = tmp_path / "docs"
    frame = (
        _warehouse(tmp_path, [_order("O1"), _order("O2", guest_email=None)])
        .execute("select * from raw.orders__orders")
        .df()
    )
    passing = validate_frame(
        docs,
        "raw.orders__orders",
        frame,
        [Rule(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), CONTRACT)],
        "run1",
    )
    failing = validate_frame(
        docs,
        "raw.orders__guests",
        frame,
        [Rule(gxe.ExpectColumnValuesToNotBeNull(column="guest_email"), CONTRACT)],
        "run1",
    )
    index = Path(build_docs(docs, [passing, failing]).removeprefix("file://"))

    pages = [index, *(Path(page_url(docs, v).removeprefix("file://")) for v in (passing, failing))]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not EXTERNAL_URL.search(html), f"{page.name} reaches the web"
    # The index's tables are HTML (offline, no script draws them): a row per result, its
    # status in words and a link to its page.
    rows = re.findall(r"<tr>(.*?)</tr>", index.read_text(encoding="utf-8"), re.DOTALL)
    results = [row for row in rows if "validations/" in row]
    assert len(results) == 2
    for row in results:
        status = "Failed" if "orders__guests" in row else "Success"
        assert f"<td>{status}</td>" in row
        (link,) = re.findall(r'href="(validations/[^"]+)"', row)
        assert (docs / link).is_file()
