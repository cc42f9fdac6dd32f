"""The data-quality library without Dagster: rules from the contract, planted bad rows, engine
errors, volume, freshness and the results tables, on real DuckDB tables and GX validations."""

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from data_quality.checks import all_results, check_raw_source, check_table, check_volume
from data_quality.freshness import source_freshness
from data_quality.gx import gxe
from data_quality.marts import table_rules
from data_quality.measure import measure
from data_quality.offline_docs import EXTERNAL_URL
from data_quality.raw_rules import raw_relation, raw_rules
from data_quality.results import CheckRun, record_results
from data_quality.rules import CONTRACT, PLAUSIBILITY, Rule
from data_quality.table_rules import DAYS_BEHIND, MART_RULES, TableRules, registered
from data_quality.validation import EngineError, build_docs, page_url, record_measured
from data_quality.volume import volume_relation, volume_rules
from ingest.contract import LINEAGE_COLUMNS, ORDERS, SERVICE, SOCIAL, Column
from ingest.loader import ensure_raw_tables
from tests.support.gx_frames import frame_rules, validate_frame

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


def _order(order_id: str | None, day: date = DAY, **changes: object) -> dict[str, object]:
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
    results = all_results(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
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
    results = all_results(
        check_raw_source(con, ORDERS, DAY - timedelta(days=1), DAY, NOW, docs, "t")
    )
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
    results = all_results(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
    failed = {r.rule: r for r in results if not r.passed}
    assert list(failed) == ["contract columns present"]
    assert failed["contract columns present"].detail == "missing columns: channel"


@pytest.mark.parametrize(
    "expectation, message",
    [
        (gxe.ExpectColumnValuesToMatchRegex(column="order_id", regex="(["), "missing ]"),
        (gxe.ExpectColumnValuesToBeBetween(column="no_such_column", min_value=0), "no_such_column"),
        (gxe.ExpectColumnValuesToBeBetween(column="status", min_value=0), "Cannot compare"),
    ],
)
def test_a_rule_duckdb_cannot_evaluate_raises_naming_table_and_rule(tmp_path, expectation, message):
    con = _warehouse(tmp_path, [_order("O1")])
    rules = [Rule(gxe.ExpectColumnValuesToNotBeNull(column="order_id"), CONTRACT)]
    rules.append(Rule(expectation, CONTRACT, "broken rule"))
    relation = raw_relation(ORDERS, ORDERS.entities[0], DAY, DAY, NOW)
    with pytest.raises(EngineError) as error:
        measure(con, "raw.orders__orders", relation, rules)
    assert "raw.orders__orders: DuckDB could not evaluate broken rule" in str(error.value)
    assert "values_to_not_be_null" not in str(error.value)
    assert message in str(error.value)


def test_a_range_is_checked_in_one_pass_with_the_result_of_its_days(tmp_path, docs):
    days = [DAY - timedelta(days=n) for n in range(4)]
    con = _warehouse(tmp_path, [_order(f"O{i}", day=d) for d in days for i in range(3)])
    con.execute("update raw.orders__orders set status = 'lost' where order_id = 'O1'")
    whole = all_results(check_raw_source(con, ORDERS, days[-1], DAY, NOW, docs, "t"))
    by_day = [all_results(check_raw_source(con, ORDERS, d, d, NOW, docs, "t")) for d in days]
    assert _failed(whole) == {"values_to_be_in_set(status)": 4}, "keys repeat across days only"
    for result in whole:
        key = (result.dataset, result.rule)
        same = [r for day in by_day for r in day if (r.dataset, r.rule) == key]
        assert result.passed == all(r.passed for r in same)
        assert result.rows == sum(r.rows for r in same)
        if result.unexpected is not None:
            assert result.unexpected == sum(r.unexpected or 0 for r in same)


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
    results = all_results(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
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
    con = _warehouse(tmp_path, [_order("O1")])
    pages = []
    for run in range(4):
        validation = check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, f"run{run}")[0]
        build_docs(docs, [validation], keep=2)
        pages.append(page_url(docs, validation))
    results = list((docs / ".gx" / "validations" / "raw" / "orders__orders").rglob("*.json"))
    assert len(results) == 2
    kept = [Path(p.removeprefix("file://")).is_file() for p in pages]
    assert kept == [False, False, True, True]
    assert "run3" in (docs / "index.html").read_text(encoding="utf-8")


def test_a_suite_page_is_rendered_again_only_when_its_suite_changed(tmp_path):
    docs = tmp_path / "docs"
    con = _warehouse(tmp_path, [_order("O1")])
    suite_page = docs / "expectations" / "raw" / "orders__orders.html"

    def check(run: str) -> int:
        build_docs(docs, check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, run)[:1])
        return suite_page.stat().st_mtime_ns

    first = check("run1")
    assert check("run2") == first
    suite_page.unlink()
    assert check("run3") > first


def test_a_suite_page_is_rendered_again_when_its_rules_change(tmp_path):
    docs = tmp_path / "docs"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    entry = _planted_table(con)
    suite_page = docs / "expectations" / "marts" / "planted.html"
    build_docs(docs, check_table(con, entry, docs, "run1"))
    rendered = suite_page.stat().st_mtime_ns
    fewer = replace(entry, ranges={})
    build_docs(docs, check_table(con, fewer, docs, "run2"))
    assert suite_page.stat().st_mtime_ns > rendered


def _planted_table(con: duckdb.DuckDBPyConnection) -> TableRules:
    """A small output table breaking each kind of rule, some values null."""
    con.execute("create schema if not exists marts")
    con.execute(
        """create or replace table marts.planted as select * from (values
            ('C1', 1, 'gold', 0.5, 3, date '2025-06-30'),
            ('C1', 1, 'gold', 1.5, 3, date '2025-06-30'),
            ('C2', null, 'tin', null, -1, date '2025-06-29'),
            ('C3', 2, null, -0.1, null, date '2025-06-30'),
            (null, 2, 'silver', 1.0, 7, null),
            (null, null, 'silver', 0.0, 12, date '2025-06-30')
        ) as t(customer_id, rank, tier, probability, score, as_of)"""
    )
    con.execute(
        "create or replace table marts.customer_360 as select date '2025-06-30' as reference_date"
    )
    return TableRules(
        "marts.planted",
        key=("customer_id",),
        not_null=("tier", "as_of"),
        ranges={"score": (0, 10), "rank": (1, None)},
        probabilities=("probability",),
        allowed={"tier": ("standard", "silver", "gold")},
        as_of="as_of",
    )


def test_sql_measures_agree_with_great_expectations_on_the_same_rows(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    entry = _planted_table(con)
    compound = replace(entry, table="marts.planted", key=("customer_id", "rank"))
    for rules_of in (entry, compound):
        measured = check_table(con, rules_of, docs, "sql")[0].results
        frame = con.execute(
            "select *, (select max(reference_date) from marts.customer_360) - as_of "
            f"as {DAYS_BEHIND} from marts.planted"
        ).df()
        rules = table_rules(rules_of, set(frame.columns))
        gx = validate_frame(frame, rules, "planted")
        assert {r.rule: (r.passed, r.rows, r.unexpected) for r in measured} == {
            r.rule: (r.passed, r.rows, r.unexpected) for r in gx
        }
    failed = _failed(check_table(con, entry, docs, "sql")[0].results)
    assert failed == {
        "one row per customer_id": 2,
        "values_to_not_be_null(customer_id)": 2,
        "values_to_not_be_null(tier)": 1,
        "values_to_not_be_null(as_of)": 1,
        "values_to_be_between(score)": 2,
        "probability in [0, 1](probability)": 2,
        "values_to_be_in_set(tier)": 1,
        "as of the current reference date(as_of)": 1,
    }


def test_a_run_over_delivery_days_checks_a_fact_tables_key_for_the_keys_it_delivered(
    tmp_path, docs
):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute(
        """create table marts.facts as select * from (values
            ('O1', 5, date '2025-06-01'), ('O1', 5, date '2025-06-30'),
            ('O2', 5, date '2025-06-01'), ('O2', 5, date '2025-06-02'),
            ('O3', -1, date '2025-06-01'), ('O4', 5, date '2025-06-30'),
            (null, 5, date '2025-06-30')
        ) as t(order_id, amount, delivered_on)"""
    )
    entry = TableRules(
        "marts.facts", key=("order_id",), ranges={"amount": (0, None)}, delivered_on="delivered_on"
    )
    night = check_table(con, entry, docs, "night", (DAY, DAY))[0].results
    # O1 delivered tonight beside its old row is found; O2's old pair is not tonight's doing;
    # every other rule still reads every row.
    assert _failed(night) == {
        "one row per order_id": 2,
        "values_to_not_be_null(order_id)": 1,
        "values_to_be_between(amount)": 1,
    }
    whole = check_table(con, entry, docs, "whole")[0].results
    assert _failed(whole)["one row per order_id"] == 4
    with pytest.raises(ValueError, match="a key of one column"):
        replace(entry, key=("order_id", "amount"))


def test_a_broken_output_rule_shows_a_few_example_values(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    entry = _planted_table(con)
    results = {r.rule: r for r in check_table(con, entry, docs, "sql")[0].results}
    assert results["one row per customer_id"].summary() == (
        "one row per customer_id: 2 of 6 rows (e.g. C1)"
    )
    assert results["probability in [0, 1](probability)"].detail == "e.g. -0.1, 1.5"
    assert results["values_to_be_in_set(tier)"].detail == "e.g. tin"
    assert results["values_to_not_be_null(tier)"].detail == ""


def test_coverage_counts_the_missing_customers_of_the_population(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_360 as select 'C' || i as customer_id, 1 as lifetime_orders, "
        "'repeat' as lifecycle_stage from range(1, 6) as t(i)"
    )
    con.execute("create table marts.scores as select 'C1' as customer_id union all select 'C4'")
    entry = TableRules("marts.scores", key=("customer_id",), population="buyers")
    table, coverage = check_table(con, entry, docs, "sql")
    assert _failed(table.results) == {}
    (rule,) = coverage.results
    assert (rule.rule, rule.passed, rule.rows, rule.unexpected, rule.detail) == (
        "every one of the buyers present",
        False,
        5,
        3,
        "e.g. C2, C3, C5",
    )


def test_an_output_rule_duckdb_cannot_evaluate_raises_naming_table_and_rule(tmp_path, docs):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute("create table marts.scores as select 'C1' as customer_id, 'five' as rating")
    entry = TableRules("marts.scores", key=("customer_id",), ranges={"rating": (1, 5)})
    with pytest.raises(EngineError) as error:
        check_table(con, entry, docs, "sql")
    assert "marts.scores" in str(error.value)
    assert "values_to_be_between(rating)" in str(error.value)


def test_output_table_results_have_data_docs_pages(tmp_path):
    docs = tmp_path / "docs"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    validations = check_table(con, _planted_table(con), docs, "sql-run")
    index = build_docs(docs, validations)
    page = Path(page_url(docs, validations[0]).removeprefix("file://"))
    assert index and page.is_file()
    html = page.read_text(encoding="utf-8")
    assert "sql-run" in html and "Unsuccessful Expectations" in html
    assert "must belong to this set" in html and "tin" in html, "with its example value"


def test_no_output_rule_that_shows_examples_reads_a_personal_column():
    personal = ("email", "phone", "name", "handle", "address", "text", "payload", "reason")
    shown = {
        column
        for entry in MART_RULES
        for column in (*entry.key, *entry.ranges, *entry.probabilities, *entry.allowed)
    }
    assert shown and not {c for c in shown if any(p in c for p in personal)}


def _plant_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Bad rows of every kind in raw orders, order lines, tickets and surveys; some nulls."""
    ensure_raw_tables(con, (SERVICE,))
    late = datetime.combine(DAY + timedelta(days=1), datetime.min.time()) + timedelta(hours=1)
    rows = [
        _order(None, _row_number=3),
        _order("O9", guest_email="li@example.com\u00a0", guest_phone=" +86 138-0000-0000 "),
        _order("O10", guest_email="\u3000", channel="\u3000", currency=" "),
        _order("O11", ordered_at=None, total_amount=None, refund_amount=3, status=None),
        _order("O12", updated_at=late, discount_amount=-0.01),
    ]
    names = [c.strip() for c in ORDER_COLUMNS.split(",")]
    con.executemany(
        f"insert into raw.orders__orders ({ORDER_COLUMNS}) values ({', '.join('?' * len(names))})",
        [[row[n] for n in names] for row in rows],
    )
    con.execute(
        """insert into raw.orders__order_lines by name
        select * from (values
            ('O1', 1, 'P1', 1, 10.0, null, 10.0),
            ('O1', 1, 'P2', 0, 10.0, 2.0, 10.0),
            ('O2', 0, null, 2, -1.0, null, 20.0),
            (null, null, 'P3', null, 1.0, null, 1.0)
        ) as t(order_id, line_number, product_id, quantity, unit_price, discount_amount,
            line_amount),
        (select date '2025-06-30' as _partition_date)"""
    )
    con.execute(
        """insert into raw.service__surveys by name
        select * from (values
            ('S1', 'csat', 5), ('S2', 'csat', 7), ('S3', 'nps', 7), ('S4', 'nps', 11),
            ('S5', null, 9), ('S6', 'csat', null), ('S6', 'ces', 0)
        ) as t(survey_id, survey_type, score),
        (select date '2025-06-30' as _partition_date, timestamp '2025-06-30 10:00' as answered_at)
        """
    )
    con.execute(
        """insert into raw.service__tickets by name
        select * from (values
            ('T1', timestamp '2025-06-30 09:00', timestamp '2025-06-30 08:00', null),
            ('T2', timestamp '2025-06-30 09:00', null, timestamp '2025-06-30 09:00'),
            ('T3', null, timestamp '2025-06-30 10:00', timestamp '2025-06-30 08:00'),
            ('T4', timestamp '2025-06-30 09:00', timestamp '2025-07-01 10:00', null)
        ) as t(ticket_id, opened_at, first_response_at, resolved_at),
        (select date '2025-06-30' as _partition_date, 'open' as status, false as is_complaint)
        """
    )


def _compared(result) -> tuple:
    """What the two paths must agree on. A type rule's count is left out: GX counted values of
    pandas object columns one by one (0 bad) and observed the dtype of the others (no count);
    SQL observes the column's type."""
    if result.expectation == "expect_column_values_to_be_of_type":
        return (result.passed, result.rows)
    return (result.passed, result.rows, result.unexpected)


@pytest.mark.parametrize("source", [ORDERS, SERVICE], ids=lambda s: s.name)
def test_raw_sql_measures_agree_with_great_expectations_on_planted_rows(tmp_path, docs, source):
    con = _warehouse(tmp_path, [*(_order(f"O{i}") for i in range(1, 8)), _order("O1")])
    _plant_raw(con)
    start = DAY - timedelta(days=1)
    measured = check_raw_source(con, source, start, DAY, NOW, docs, "sql")
    for entity, validation in zip(source.entities, measured, strict=True):
        frame = con.execute(raw_relation(source, entity, start, DAY, NOW)).df()
        rules = raw_rules(source, entity, set(frame.columns))
        reference = validate_frame(frame, frame_rules(rules), entity.name)
        assert len(validation.results) == len(rules) == len(reference)
        assert {r.rule: _compared(r) for r in validation.results} == {
            r.rule: _compared(r) for r in reference
        }
        assert all(r.passed for r in validation.results if "of_type" in r.expectation)
        assert not any(r.detail.startswith("e.g.") for r in validation.results), "counts only"
    failed = {v.dataset: _failed(v.results) for v in measured}
    if source is SERVICE:
        assert failed["raw.service__surveys"]["values_to_be_between(score)"] == 1  # NPS 11
        assert failed["raw.service__tickets"] == {
            "values_to_not_be_null(opened_at)": 1,
            "values_to_not_be_null(updated_at)": 4,
            "not after the delivery day(first_response_at)": 1,
            "first_response_at not before or below opened_at": 1,
        }
    else:
        assert failed["raw.orders__orders"]["blank stored as null(channel)"] == 1  # U+3000


def test_a_raw_column_of_the_wrong_type_fails_its_type_rule(tmp_path, docs):
    con = _warehouse(tmp_path, [_order("O1")])
    con.execute("alter table raw.orders__orders alter currency type integer using 1")
    results = all_results(check_raw_source(con, ORDERS, DAY, DAY, NOW, docs, "t"))
    failed = {r.rule: r for r in results if not r.passed}
    assert list(failed) == ["values_to_be_of_type(currency)"]
    assert failed["values_to_be_of_type(currency)"].summary() == (
        "values_to_be_of_type(currency): observed INTEGER"
    )
    assert failed["values_to_be_of_type(currency)"].check == CONTRACT


def test_volume_sql_measures_agree_with_great_expectations(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    start = DAY - timedelta(days=20)
    history = {start + timedelta(days=n): 40 + n % 3 for n in range(21)}
    history[DAY - timedelta(days=2)] = 0
    history[DAY - timedelta(days=1)] = 400
    _loads(con, history)
    relation = volume_relation("social", DAY - timedelta(days=10), DAY)
    rows, _, measured = measure(con, "raw.social__volume", relation, volume_rules())
    reference = validate_frame(con.execute(relation).df(), volume_rules(), "volume")
    assert [(m.rule.name, m.success, m.result["element_count"]) for m in measured] == [
        (r.rule, r.passed, r.rows) for r in reference
    ]
    assert [m.result["unexpected_count"] for m in measured] == [r.unexpected for r in reference]
    assert rows == 22 and [m.result["unexpected_count"] for m in measured] == [1, 2]


def test_data_docs_open_offline_with_every_result_listed_in_html(tmp_path):
    docs = tmp_path / "docs"
    con = _warehouse(tmp_path, [_order("O1"), _order("O2", guest_email=None)])

    def recorded(dataset: str, column: str):
        rules = [Rule(gxe.ExpectColumnValuesToNotBeNull(column=column), CONTRACT)]
        rows, _, measured = measure(con, dataset, "select * from raw.orders__orders", rules)
        return record_measured(docs, dataset, rows, measured, "run1")

    passing = recorded("raw.orders__orders", "order_id")
    failing = recorded("raw.orders__guests", "guest_email")
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
