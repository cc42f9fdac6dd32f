"""The loader on hand-made deliveries: quarantine, file-level errors, replace-by-day."""

from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.contract import ORDERS, SOCIAL
from ingest.encoding import Decoded, EncodingError, decode
from ingest.loader import load_source
from ingest.reading import DeliveryError

DAY = date(2025, 3, 1)
ORDER_HEADER = (
    "order_id,customer_id,ordered_at,status,items_amount,discount_amount,total_amount,updated_at"
)


def _deliver(landing: Path, source: str, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder = landing / source / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def _load(tmp_path: Path, source=ORDERS, load_id: str = "test"):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = load_source(con, source, tmp_path / "landing", DAY, DAY, load_id)
    return con, report


def test_bad_rows_are_quarantined_with_file_row_and_reason(tmp_path):
    _deliver(
        tmp_path / "landing",
        "orders",
        "orders.csv",
        "\n".join(
            [
                ORDER_HEADER,
                "O1,C1,2025-03-01 10:00:00,PAID,100,0,100,2025-03-01 10:00:00",
                "O2,C2,2025-03-01 11:00:00,lost,100,0,100,2025-03-01 11:00:00",
                "O3,C3,not a time,paid,100,0,100,2025-03-01 11:00:00",
                "O4,C4,2025-03-01 12:00:00,paid,100",
                ",C5,2025-03-01 12:00:00,paid,1,0,1,2025-03-01 12:00:00",
            ]
        )
        + "\n",
    )
    con, report = _load(tmp_path)
    assert report.total("rows_read") == 5
    assert report.total("rows_loaded") == 1
    assert report.total("rows_quarantined") == 4
    rows = con.execute(
        "select _file, _row_number, reason from raw._quarantine order by _row_number"
    ).fetchall()
    assert rows == [
        (
            "orders/2025-03-01/orders.csv",
            3,
            "status: 'lost' is not one of paid, shipped, cancelled, refunded",
        ),
        ("orders/2025-03-01/orders.csv", 4, "ordered_at: 'not a time' is not a valid timestamp"),
        ("orders/2025-03-01/orders.csv", 5, "expected 8 fields, found 5"),
        ("orders/2025-03-01/orders.csv", 6, "order_id: required value missing"),
    ]
    loaded = con.execute(
        "select order_id, status, total_amount, _row_number from raw.orders__orders"
    ).fetchall()
    assert [(r[0], r[1], float(r[2]), r[3]) for r in loaded] == [("O1", "paid", 100.0, 2)]


def test_missing_required_column_fails_naming_file_and_column(tmp_path):
    path = _deliver(tmp_path / "landing", "orders", "orders.csv", "order_id,customer_id\nO1,C1\n")
    with pytest.raises(DeliveryError) as err:
        _load(tmp_path)
    assert str(path) in str(err.value)
    assert "ordered_at" in str(err.value) and "status" in str(err.value)


def test_failed_load_leaves_the_day_as_it_was(tmp_path):
    landing = tmp_path / "landing"
    _deliver(
        landing,
        "orders",
        "orders.csv",
        ORDER_HEADER + "\nO1,C1,2025-03-01 10:00:00,paid,1,0,1,2025-03-01 10:00:00\n",
    )
    con, _ = _load(tmp_path)
    con.close()
    _deliver(landing, "orders", "orders_2.csv", "order_id\nO2\n")
    with pytest.raises(DeliveryError):
        _load(tmp_path)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert con.execute("select order_id from raw.orders__orders").fetchall() == [("O1",)]


def test_file_neither_utf8_nor_gbk_is_refused_with_byte_offset(tmp_path):
    path = _deliver(
        tmp_path / "landing",
        "orders",
        "orders.csv",
        ORDER_HEADER + "\nO1,Müller,2025-03-01 10:00:00,paid,1,0,1,2025-03-01 10:00:00\n",
        encoding="latin-1",
    )
    offset = len(ORDER_HEADER) + len("\nO1,M")
    with pytest.raises(DeliveryError, match=f"not valid UTF-8 at byte {offset} ") as err:
        _load(tmp_path)
    assert str(path) in str(err.value) and "GBK" in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["张伟,北京,欧阳娜娜", "王喆,李娜,上海,工程师,高价值;老客户,张伟", "plain ascii"],
)
def test_gbk_text_decodes_exactly(text):
    assert decode(text.encode("gbk")) == Decoded(text, "utf-8" if text.isascii() else "gb18030")
    assert decode(text.encode("utf-8")).encoding == "utf-8"
    assert decode(("\ufeff" + text).encode("utf-8")).text == text


@pytest.mark.parametrize(
    "data",
    ["name\nMüller\n".encode("latin-1"), "\ufeffhi".encode("utf-16"), bytes(range(256))],
)
def test_bytes_that_are_not_chinese_text_are_refused(data):
    with pytest.raises(EncodingError):
        decode(data)


def test_reloading_a_day_replaces_it(tmp_path):
    landing = tmp_path / "landing"
    row = "O{n},C1,2025-03-01 10:00:00,paid,1,0,1,2025-03-01 10:00:00"
    _deliver(
        landing,
        "orders",
        "orders.csv",
        "\n".join([ORDER_HEADER, row.format(n=1), row.format(n=2)]) + "\n",
    )
    con, _ = _load(tmp_path, load_id="first")
    con.close()
    _deliver(landing, "orders", "orders.csv", "\n".join([ORDER_HEADER, row.format(n=3)]) + "\n")
    con, report = _load(tmp_path, load_id="second")
    assert con.execute("select order_id, _load_id from raw.orders__orders").fetchall() == [
        ("O3", "second")
    ]
    assert con.execute("select count(*) from raw._loads where source = 'orders'").fetchone()[
        0
    ] == len(ORDERS.entities)


def test_jsonl_bad_lines_and_extra_keys(tmp_path):
    _deliver(
        tmp_path / "landing",
        "social",
        "posts.jsonl",
        "\n".join(
            [
                '{"post_id": "S1", "platform": "weibo", "author_handle": "@a", '
                '"posted_at": "2025-03-01 09:00:00", "text": "质量很好但是太贵了", "mood": "x"}',
                "{not json",
                '["a list"]',
                '{"post_id": "S2", "platform": "weibo", "author_handle": "b", '
                '"posted_at": "2025-03-01 09:00:00", "text": "ok", "rating": 9.5}',
            ]
        )
        + "\n",
    )
    con, report = _load(tmp_path, source=SOCIAL)
    assert (
        report.total("rows_read"),
        report.total("rows_loaded"),
        report.total("rows_quarantined"),
    ) == (4, 1, 3)
    assert report.extra_columns == ["posts.mood"]
    assert con.execute("select text from raw.social__posts").fetchone()[0] == "质量很好但是太贵了"
    reasons = [
        r
        for (r,) in con.execute(
            "select reason from raw._quarantine order by _row_number"
        ).fetchall()
    ]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "not a JSON object"
    assert reasons[2] == "rating: '9.5' is not a valid integer"


OLD_LOG_DDL = {
    "raw._quarantine": "source varchar, entity varchar, _partition_date date, _file varchar, "
    "_row_number bigint, reason varchar, record varchar, _load_id varchar, _loaded_at timestamp",
    "raw._loads": "load_id varchar, source varchar, entity varchar, partition_date date, "
    "files bigint, rows_read bigint, rows_loaded bigint, rows_quarantined bigint, "
    "extra_columns varchar, loaded_at timestamp, files_skipped bigint, missing_columns varchar, "
    "encodings varchar, rows_without_parent bigint",
    "raw._files": "load_id varchar, source varchar, entity varchar, partition_date date, "
    "file varchar, sha256 varchar, bytes bigint, modified_at timestamp, encoding varchar, "
    "rows_read bigint, status varchar, duplicate_of varchar, loaded_at timestamp",
}
"""The log tables as the loader created them before they were table specs."""


def _schema(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [tuple(row[:2]) for row in con.execute(f"describe {table}").fetchall()]


def test_log_tables_come_from_their_specs_with_the_schema_of_older_warehouses(tmp_path):
    from ingest.log_tables import LOG_TABLES

    assert {spec.name for spec in LOG_TABLES} == set(OLD_LOG_DDL)
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    old.execute("create schema raw")
    for table, columns in OLD_LOG_DDL.items():
        old.execute(f"create table {table} ({columns})")
    old.execute(
        "insert into raw._loads (load_id, source, entity, partition_date, rows_read) "
        "values ('before', 'orders', 'orders', date '2025-02-28', 3)"
    )
    new = duckdb.connect(str(tmp_path / "new.duckdb"))
    for spec in LOG_TABLES:
        spec.create(new)
        assert _schema(new, spec.name) == _schema(old, spec.name), spec.name

    # An older warehouse loads on as before: its log kept, the new day added.
    old.close()
    _deliver(tmp_path / "landing", "orders", "orders.csv", f"{ORDER_HEADER}\n")
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    load_source(con, ORDERS, tmp_path / "landing", DAY, DAY, "after")
    logged = con.execute("select load_id, count(*) from raw._loads group by all order by 1")
    assert logged.fetchall() == [("after", len(ORDERS.entities)), ("before", 1)]
