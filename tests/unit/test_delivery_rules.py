"""Odd deliveries tried by hand (issue 13), each on real files and a real DuckDB warehouse:
nothing is lost or changed silently, and every failure names the file and the cause."""

import gzip
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ingest import reading
from ingest.contract import CRM, ORDERS, SOCIAL
from ingest.encoding import EncodingError, decode
from ingest.late import find_late_deliveries
from ingest.loader import LONG_RANGE_DAYS, load_source
from ingest.reading import TRUNCATED, DeliveryError
from orchestration.cli import UserError, landing_dates

DAY = date(2025, 3, 1)
ORDER_HEADER = (
    "order_id,customer_id,ordered_at,status,items_amount,discount_amount,total_amount,updated_at"
)
LINE_HEADER = "order_id,line_number,product_id,quantity,unit_price,line_amount"


def order_row(order_id: str, at: str = "2025-03-01 10:00:00", total: str = "100.00") -> str:
    return f"{order_id},C1,{at},paid,{total},0,{total},2025-03-01 10:00:00"


def orders_csv(*rows: str) -> str:
    return "\n".join([ORDER_HEADER, *rows]) + "\n"


def deliver(landing: Path, name: str, data: str | bytes, source: str = "orders") -> Path:
    folder = landing / source / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def load(tmp_path: Path, source=ORDERS):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = load_source(con, source, tmp_path / "landing", DAY, DAY, "test")
    return con, report


def quarantined(con) -> list[tuple[str, int, str]]:
    return con.execute(
        "select _file, _row_number, reason from raw._quarantine order by _file, _row_number"
    ).fetchall()


def assert_rows_balance(con) -> None:
    """rows read = rows loaded + rows quarantined, in raw._loads and in the tables."""
    for entity, read, loaded, bad in con.execute(
        "select entity, rows_read, rows_loaded, rows_quarantined from raw._loads"
    ).fetchall():
        assert read == loaded + bad, entity
        in_quarantine = con.execute(
            "select count(*) from raw._quarantine where entity = ?", [entity]
        ).fetchone()[0]
        assert in_quarantine == bad, entity


# --- file names ---------------------------------------------------------------------------


def test_entity_names_match_in_any_case_and_gzip_is_read(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "Orders.csv", orders_csv(order_row("O1")))
    deliver(landing, "ORDERS_2.Csv", orders_csv(order_row("O2")))
    deliver(landing, "orders_3.csv.gz", gzip.compress(orders_csv(order_row("O3")).encode()))
    deliver(landing, "order_lines.CSV", f"{LINE_HEADER}\nO1,1,P1,1,100,100\n")
    deliver(landing, ".DS_Store", b"\x00\x01junk")
    deliver(landing, "Thumbs.db", b"\x00junk")
    con, report = load(tmp_path)
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O1",),
        ("O2",),
        ("O3",),
    ]
    assert con.execute("select count(*) from raw.orders__order_lines").fetchone()[0] == 1
    assert {f.file for f in report.files} == {
        "orders/2025-03-01/Orders.csv",
        "orders/2025-03-01/ORDERS_2.Csv",
        "orders/2025-03-01/orders_3.csv.gz",
        "orders/2025-03-01/order_lines.CSV",
    }


def test_gzip_jsonl_is_read(tmp_path):
    post = {
        "post_id": "S1",
        "platform": "weibo",
        "author_handle": "a",
        "posted_at": "2025-03-01 10:00:00",
        "text": "好",
    }
    deliver(
        tmp_path / "landing", "posts.jsonl.gz", gzip.compress(json.dumps(post).encode()), "social"
    )
    con, _ = load(tmp_path, SOCIAL)
    assert con.execute("select post_id from raw.social__posts").fetchall() == [("S1",)]


def test_files_of_no_entity_fail_the_day_naming_every_one(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    odd = [
        deliver(landing, "订单.csv", orders_csv(order_row("O2"))),
        deliver(landing, "orders.xlsx", b"PK\x03\x04"),
        deliver(landing, "readme.txt", "hello"),
    ]
    folder = landing / "orders" / DAY.isoformat() / "order_lines.csv"
    folder.mkdir()
    odd.append(folder)
    with pytest.raises(DeliveryError) as err:
        load(tmp_path)
    message = str(err.value)
    assert all(str(path) in message for path in odd), message
    assert "(a folder)" in message and "orders*.csv" in message
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert con.execute("select count(*) from raw.orders__orders").fetchone()[0] == 0


def test_day_folder_not_named_yyyy_mm_dd_is_an_error(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    odd = landing / "orders" / "20250302"
    odd.mkdir()
    (odd / "orders.csv").write_text(orders_csv(order_row("O2")))
    with pytest.raises(DeliveryError, match="20250302.*not a delivery day folder"):
        load(tmp_path)
    with pytest.raises(UserError, match="20250302.*not a delivery day folder"):
        landing_dates(landing)
    odd.rename(landing / "orders" / "2025-03-02")
    (landing / "_erasure_requests").mkdir()  # lives in the landing root, not a source folder
    assert landing_dates(landing) == [DAY, date(2025, 3, 2)]


def test_late_files_are_found_by_the_loaders_names_and_stray_files_too(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O1")))
    con, _ = load(tmp_path)
    assert find_late_deliveries(con, landing) == []
    deliver(landing, "ORDERS_late.CSV.gz", gzip.compress(orders_csv(order_row("O2")).encode()))
    deliver(landing, "订单.csv", orders_csv(order_row("O3")))  # its re-run fails naming it
    deliver(landing, ".DS_Store", b"junk")
    [late] = find_late_deliveries(con, landing)
    assert late.files == ("orders/2025-03-01/ORDERS_late.CSV.gz", "orders/2025-03-01/订单.csv")


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "shop_time"),
    [
        ("2025-03-01 01:00:00 UTC", datetime(2025, 3, 1, 9)),
        ("2025-02-28 12:00:00 America/New_York", datetime(2025, 3, 1, 1)),
        ("2025-03-01T01:00:00Z", datetime(2025, 3, 1, 9)),
        ("2025-03-01 09:00:00+08:00", datetime(2025, 3, 1, 9)),
        ("2025-03-01 09:00:00", datetime(2025, 3, 1, 9)),
    ],
)
def test_timestamps_with_a_zone_are_converted_exactly_to_shop_time(tmp_path, delivered, shop_time):
    deliver(tmp_path / "landing", "orders.csv", orders_csv(order_row("O1", at=delivered)))
    con, _ = load(tmp_path)
    assert con.execute("select ordered_at from raw.orders__orders").fetchall() == [(shop_time,)]


def test_truncated_unknown_zone_and_ancient_values_are_quarantined(tmp_path):
    deliver(
        tmp_path / "landing",
        "orders.csv",
        orders_csv(
            order_row("O1", at="2025-03-01 22:0"),
            order_row("O2", at="2025-03-01 10:00:00 Mars/Olympus"),
            order_row("O3", at="0001-01-01 00:00:00"),
            order_row("O4"),
        ),
    )
    deliver(
        tmp_path / "landing",
        "order_lines.csv",
        f"{LINE_HEADER}\nO4,1,P1,1,100,100\nO4,2,P1,1,110.90,110",  # cut: no final line break
    )
    con, _ = load(tmp_path)
    assert quarantined(con) == [
        ("orders/2025-03-01/order_lines.csv", 3, TRUNCATED),
        (
            "orders/2025-03-01/orders.csv",
            2,
            "ordered_at: '2025-03-01 22:0' is not a valid timestamp",
        ),
        (
            "orders/2025-03-01/orders.csv",
            3,
            "ordered_at: '2025-03-01 10:00:00 Mars/Olympus' is not a valid timestamp",
        ),
        (
            "orders/2025-03-01/orders.csv",
            4,
            "ordered_at: '0001-01-01 00:00:00' is before 1900-01-01 (the earliest date accepted)",
        ),
    ]
    assert con.execute("select order_id from raw.orders__orders").fetchall() == [("O4",)]
    assert_rows_balance(con)


def test_dates_before_1900_are_quarantined(tmp_path):
    header = "customer_id,customer_type,signup_date,updated_at,birthday"
    deliver(
        tmp_path / "landing",
        "customers.csv",
        f"{header}\nC1,consumer,2025-03-01,2025-03-01 10:00:00,0001-01-01\n"
        "C2,consumer,2025-03-01,2025-03-01 10:00:00,1950-05-05\n",
        "crm",
    )
    con, _ = load(tmp_path, CRM)
    assert [r[2] for r in quarantined(con)] == [
        "birthday: '0001-01-01' is before 1900-01-01 (the earliest date accepted)"
    ]


# --- keys -----------------------------------------------------------------------------------


def test_ids_are_trimmed_and_keep_their_case(tmp_path):
    deliver(
        tmp_path / "landing",
        "orders.csv",
        orders_csv(
            order_row("O0000000341 "), order_row("\u3000O0000000342\t"), order_row("\u3000")
        ),
    )
    deliver(tmp_path / "landing", "order_lines.csv", f"{LINE_HEADER}\n O0000000341 ,1,P1,1,5,5\n")
    con, report = load(tmp_path)
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O0000000341",),
        ("O0000000342",),
    ]
    assert con.execute("select order_id from raw.orders__order_lines").fetchall() == [
        ("O0000000341",)
    ]
    assert report.loads[1].rows_without_parent == 0  # the trimmed line finds its order
    assert [r[2] for r in quarantined(con)] == ["order_id: required value missing"]


def test_an_id_resent_in_another_case_is_another_id_and_a_warning(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O0000000341")))
    later = landing / "orders" / "2025-03-02"
    later.mkdir(parents=True)
    (later / "orders.csv").write_text(orders_csv(order_row("o0000000341")))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = load_source(con, ORDERS, landing, date(2025, 3, 2), date(2025, 3, 2), "test")
    # the first day is not loaded yet: nothing to compare with
    assert not [w for w in report.warnings if "only in case" in w]
    report = load_source(con, ORDERS, landing, DAY, date(2025, 3, 2), "test")
    assert con.execute("select count(*) from raw.orders__orders").fetchone()[0] == 2
    [warning] = [w for w in report.warnings if "only in case" in w]
    assert warning.startswith(
        "orders/orders: 2 order_id(s) differ from another loaded order_id only in case "
        "(e.g. 'O0000000341' and 'o0000000341')"
    )


def test_ids_all_in_upper_case_may_still_differ_only_in_case(tmp_path):
    # The Kelvin sign is its own upper case, as K is, and both are k in lower case: the cheap
    # pass that skips the warning when every id is in one case must not take them for one case.
    ids = ("K0000000341", "\u212a0000000341", "\u00a0O0000000342\ufeff")
    deliver(tmp_path / "landing", "orders.csv", orders_csv(*map(order_row, ids)))
    con, report = load(tmp_path)
    loaded = con.execute("select order_id from raw.orders__orders order by 1").fetchall()
    assert [r[0] for r in loaded] == ["K0000000341", "O0000000342", "\u212a0000000341"]
    [warning] = [w for w in report.warnings if "only in case" in w]
    assert warning.startswith("orders/orders: 2 order_id(s) differ from another loaded order_id")


def test_a_resent_order_with_a_trailing_space_replaces_the_first_after_dedupe(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O0000000341", total="100.00")))
    later = landing / "orders" / "2025-03-02"
    later.mkdir(parents=True)
    (later / "orders.csv").write_text(
        orders_csv(order_row("O0000000341 ", total="90.00").replace("paid", "refunded"))
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    load_source(con, ORDERS, landing, DAY, date(2025, 3, 2), "test")
    # what the staging model's dedupe does: one row per key, the latest delivery wins
    latest = con.execute(
        "select order_id, status from raw.orders__orders "
        "qualify row_number() over (partition by order_id order by _partition_date desc) = 1"
    ).fetchall()
    assert latest == [("O0000000341", "refunded")]


# --- the same key twice in one delivery -----------------------------------------------------


def test_conflicting_rows_of_one_key_are_quarantined_naming_key_and_rule(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O1", total="100.00"), order_row("O2")))
    deliver(landing, "orders_2.csv", orders_csv(order_row("O1", total="120.00")))
    deliver(
        landing,
        "order_lines.csv",
        f"{LINE_HEADER}\nO2,1,P1,1,5,5\nO2,1,P2,1,5,5\nO2,2,P1,1,5,5\n",
    )
    con, report = load(tmp_path)
    conflict = "O1' delivered in 2 rows with different values this day"
    reasons = quarantined(con)
    assert [(f, r) for f, r, _ in reasons] == [
        ("orders/2025-03-01/order_lines.csv", 2),
        ("orders/2025-03-01/order_lines.csv", 3),
        ("orders/2025-03-01/orders.csv", 2),
        ("orders/2025-03-01/orders_2.csv", 2),
    ]
    assert all(
        conflict in reason and reason.startswith("order_id: '") for *_, reason in reasons[2:]
    )
    assert reasons[0][2].startswith("order_id, line_number: 'O2, 1' delivered in 2 rows")
    assert con.execute("select order_id from raw.orders__orders").fetchall() == [("O2",)]
    assert report.total("rows_read") == 6 and report.total("rows_quarantined") == 4
    assert_rows_balance(con)


def test_exact_duplicate_rows_load_once_and_the_copies_are_counted(tmp_path):
    landing = tmp_path / "landing"
    deliver(landing, "orders.csv", orders_csv(order_row("O1"), order_row("O1 "), order_row("O2")))
    deliver(landing, "orders_again.csv", orders_csv(order_row("O2"), order_row("O3")))
    con, report = load(tmp_path)
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O1",),
        ("O2",),
        ("O3",),
    ]
    assert quarantined(con) == [
        (
            "orders/2025-03-01/orders.csv",
            3,
            "exact duplicate of 'orders/2025-03-01/orders.csv, row 2'",
        ),
        (
            "orders/2025-03-01/orders_again.csv",
            2,
            "exact duplicate of 'orders/2025-03-01/orders.csv, row 4'",
        ),
    ]
    assert report.total("rows_read") == 5 and report.total("rows_loaded") == 3
    assert_rows_balance(con)


# --- encodings ------------------------------------------------------------------------------


def test_shift_jis_is_refused_not_stored_as_mojibake(tmp_path):
    text = "customer_id,name,city\nC1,ｽｽﾞｷ,ｵｵｻｶ\nC2,ﾀﾅｶｼ,ｷｮｳﾄ\n"
    with pytest.raises(EncodingError, match="Shift-JIS"):
        decode(text.encode("shift_jis"))
    path = deliver(
        tmp_path / "landing", "orders.csv", orders_csv(order_row("ﾀﾅｶｼ")).encode("shift_jis")
    )
    with pytest.raises(DeliveryError, match="Shift-JIS") as err:
        load(tmp_path)
    assert str(path) in str(err.value)


def test_bad_gbk_byte_is_reported_at_its_own_offset():
    good = "张伟,北京\n".encode("gbk")
    data = good + b"\xff\xff\n"  # 0xff is never a GBK byte
    with pytest.raises(EncodingError) as err:
        decode(data)
    assert err.value.offset == len(good)
    assert f"not valid GBK at byte {len(good)} (0xff)" in str(err.value)
    assert "not valid UTF-8 at byte 0 " in str(err.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (orders_csv(order_row("O1")).replace(",", ";").encode(), "delimiter looks like ';'"),
        (orders_csv(order_row("O1")).replace(",", "\t").encode(), "delimiter looks like '\\t'"),
        (orders_csv(order_row("O1")).encode("utf-16-le"), "looks like UTF-16 (NUL bytes"),
        (orders_csv(order_row("O1")).encode("utf-16"), "looks like UTF-16 (it starts with"),
    ],
)
def test_other_delimiters_and_utf16_say_what_the_file_looks_like(tmp_path, data, says):
    path = deliver(tmp_path / "landing", "orders.csv", data)
    with pytest.raises(DeliveryError) as err:
        load(tmp_path)
    assert str(path) in str(err.value) and says in str(err.value)
    assert "missing required" not in str(err.value)


# --- JSON Lines -----------------------------------------------------------------------------


def test_json_objects_arrays_and_booleans_in_text_fields_are_quarantined(tmp_path):
    base = {
        "platform": "weibo",
        "author_handle": "a",
        "posted_at": "2025-03-01 10:00:00",
        "text": "好",
    }
    posts = [
        {**base, "post_id": "S1", "text": {"zh": "好"}},
        {**base, "post_id": "S2", "author_handle": ["a", "b"]},
        {**base, "post_id": "S3", "text": True},
        {**base, "post_id": 4, "customer_id": 1234},  # ids exported as numbers: kept as digits
        {**base, "post_id": "S5", "text": 1.5},
    ]
    deliver(
        tmp_path / "landing", "posts.jsonl", "".join(json.dumps(p) + "\n" for p in posts), "social"
    )
    con, _ = load(tmp_path, SOCIAL)
    assert [(row, reason) for _, row, reason in quarantined(con)] == [
        (1, "text: a JSON object where text is expected"),
        (2, "author_handle: a JSON array where text is expected"),
        (3, "text: a JSON boolean where text is expected"),
        (5, "text: a JSON decimal number where text is expected"),
    ]
    assert con.execute("select post_id, customer_id from raw.social__posts").fetchall() == [
        ("4", "1234")
    ]
    assert_rows_balance(con)


def test_json_lines_keep_their_line_numbers_across_batches(tmp_path, monkeypatch):
    # Columns are taken from a batch's objects at once: rows rejected on the way (bad JSON,
    # wrong types, two in one row) must not shift the line numbers of the rows after them.
    monkeypatch.setattr(reading, "BATCH_ROWS", 3)
    base = {"platform": "weibo", "author_handle": "a", "posted_at": "2025-03-01 10:00:00"}
    lines = [json.dumps({**base, "post_id": f"S{n}", "text": f"t{n}"}) for n in range(1, 10)]
    lines[1] = "{broken"
    lines[3] = json.dumps({**base, "post_id": "S4", "text": 1.5, "author_handle": False})
    lines[4] = "  "
    lines[6] = json.dumps({**base, "post_id": "S7", "text": "", "likes": 3, "rating": 4.0})
    deliver(tmp_path / "landing", "posts.jsonl", "\n".join(lines) + "\n", "social")
    con, _ = load(tmp_path, SOCIAL)
    assert [(row, reason) for _, row, reason in quarantined(con)] == [
        (2, "invalid JSON: Expecting property name enclosed in double quotes"),
        (
            4,
            "author_handle: a JSON boolean where text is expected; "
            "text: a JSON decimal number where text is expected",
        ),
        (7, "text: required value missing; rating: '4.0' is not a valid integer"),
    ]
    assert con.execute(
        "select post_id, _row_number, text, likes from raw.social__posts order by 2"
    ).fetchall() == [
        ("S1", 1, "t1", None),
        ("S3", 3, "t3", None),
        ("S6", 6, "t6", None),
        ("S8", 8, "t8", None),
        ("S9", 9, "t9", None),
    ]
    assert_rows_balance(con)


# --- order lines without their order --------------------------------------------------------


# A night compares the keys, a load of a long range their hashes.
@pytest.mark.parametrize("days_after", [0, LONG_RANGE_DAYS])
def test_order_lines_whose_order_never_arrived_are_kept_counted_and_warned(tmp_path, days_after):
    deliver(tmp_path / "landing", "orders.csv", orders_csv(order_row("O1")))
    deliver(
        tmp_path / "landing",
        "order_lines.csv",
        f"{LINE_HEADER}\nO1,1,P1,1,5,5\nO9,1,P1,1,5,5\nO9,2,P1,1,5,5\n",
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    last = DAY + timedelta(days=days_after)
    report = load_source(con, ORDERS, tmp_path / "landing", DAY, last, "test")
    assert con.execute("select count(*) from raw.orders__order_lines").fetchone()[0] == 3
    assert con.execute(
        "select entity, rows_without_parent from raw._loads where partition_date = ? "
        "order by entity",
        [DAY],
    ).fetchall() == [("order_lines", 2), ("orders", None), ("products", None)]
    assert any("2 row(s) whose orders row never arrived" in w for w in report.warnings)


# --- errors that hid their cause ------------------------------------------------------------


def test_a_field_over_128_kb_loads(tmp_path):
    header = "ticket_id,is_complaint,status,opened_at,updated_at,description"
    long = "很长的投诉" * 40_000  # 200,000 characters, 600 KB in UTF-8
    deliver(
        tmp_path / "landing",
        "tickets.csv",
        f'{header}\nT1,false,open,2025-03-01 10:00:00,2025-03-01 10:00:00,"{long}"\n',
        "service",
    )
    from ingest.contract import SERVICE

    con, _ = load(tmp_path, SERVICE)
    assert con.execute("select length(description) from raw.service__tickets").fetchall() == [
        (len(long),)
    ]


def test_a_folder_named_like_a_delivery_file_is_a_delivery_error(tmp_path):
    deliver(tmp_path / "landing", "orders.csv", orders_csv(order_row("O1")))
    folder = tmp_path / "landing" / "orders" / DAY.isoformat() / "orders_2.csv"
    folder.mkdir()
    with pytest.raises(DeliveryError, match="orders_2.csv \\(a folder\\)"):
        load(tmp_path)


def test_a_gzip_file_cut_short_is_a_delivery_error(tmp_path):
    data = gzip.compress(orders_csv(order_row("O1")).encode())
    path = deliver(tmp_path / "landing", "orders.csv.gz", data[: len(data) // 2])
    with pytest.raises(DeliveryError, match="not a complete gzip file") as err:
        load(tmp_path)
    assert str(path) in str(err.value)
