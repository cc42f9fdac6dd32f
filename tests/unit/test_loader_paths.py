"""The loader's ways of reading a file give the same rows: for CSV, DuckDB's reader (the fast
path, staged or read while validating) and Python's csv module in bounded batches (the exact
path); for JSON Lines, Arrow's reader on the whole file and Python's json line by line."""

import gzip
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

import ingest.loader as loader
import ingest.reading as reading
from ingest.contract import ORDERS, SERVICE, SOCIAL
from ingest.loader import load_source
from ingest.reading import TRUNCATED, DeliveryError
from ingest.row_rules import validation_sql

DAY = date(2025, 3, 1)
HEADER = (
    "order_id,customer_id,ordered_at,status,items_amount,discount_amount,total_amount,updated_at"
)


def row(order_id: str, total: str = "100.00", status: str = "paid", at: str = "10:00:00") -> str:
    return f"{order_id},C1,2025-03-01 {at},{status},{total},0,{total},2025-03-01 {at}"


MESSY_BUT_ONE_LINE_PER_ROW = [
    row("O1"),
    row(" O2 "),  # trimmed id
    row("O3", total="-5"),  # below the minimum
    row("O4", status="LOST"),  # not an allowed value
    row("O5", at="10:0"),  # cut timestamp
    row("O6", total="9"),
    row("O6", total="8"),  # conflicting rows of one key
    row("O7"),
    row("O7"),  # exact duplicate
    '"O8","C1","2025-03-01 10:00:00",paid,"1,000.00",0,1,2025-03-01 10:00:00',  # quoted comma
    "O9,,2025-03-01T02:00:00Z,shipped,1,0,1,2025-03-01 11:00:00",  # empty value, zone
    ",C1,2025-03-01 10:00:00,paid,1,0,1,2025-03-01 10:00:00",  # id missing
    '"O10","C1","2025-03-01 10:00:00","paid","1.00","0","1.00","2025-03-01 10:00:00"',
]


def deliver(landing: Path, name: str, text: str, day: date = DAY, source: str = "orders") -> Path:
    folder = landing / source / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def load(tmp_path: Path, source=ORDERS, start: date = DAY, end: date = DAY):
    """Load ``tmp_path``'s landing folder into a new warehouse there."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    return con, load_source(con, source, tmp_path / "landing", start, end, "test")


def tables(con) -> dict[str, list[tuple]]:
    """The orders and the quarantine, without the columns naming the load."""
    return {
        "orders": con.execute(
            "select * exclude (_load_id, _loaded_at) from raw.orders__orders order by all"
        ).fetchall(),
        "quarantine": con.execute(
            "select _file, _row_number, reason, record from raw._quarantine order by all"
        ).fetchall(),
        "files": con.execute("select file, rows_read, status from raw._files").fetchall(),
        "loads": con.execute(
            "select entity, rows_read, rows_loaded, rows_quarantined from raw._loads order by 1"
        ).fetchall(),
    }


@pytest.fixture
def exact_reads(monkeypatch) -> list[Path]:
    """The files the exact path read, in order."""
    read: list[Path] = []

    class Counting(reading.ExactReader):
        def batches(self):
            read.append(self.path)
            return super().batches()

    monkeypatch.setattr(loader, "ExactReader", Counting)
    return read


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "read_while_validating"])
def test_fast_and_exact_paths_give_identical_rows_and_quarantine(
    tmp_path, monkeypatch, exact_reads, direct
):
    text = "\n".join([HEADER, *MESSY_BUT_ONE_LINE_PER_ROW]) + "\n"
    deliver(tmp_path / "fast" / "landing", "orders.csv", text)
    deliver(tmp_path / "exact" / "landing", "orders.csv", text)
    if direct:
        monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    fast_con, fast_report = load(tmp_path / "fast")
    assert exact_reads == []  # DuckDB read it
    monkeypatch.setattr(loader, "fast_csv_query", lambda *args: None)
    exact_con, exact_report = load(tmp_path / "exact")
    assert len(exact_reads) == 1
    fast, exact = tables(fast_con), tables(exact_con)
    assert fast == exact
    assert fast_report.reasons == exact_report.reasons
    assert [(r[0], r[-1]) for r in fast["orders"]] == [
        ("O1", 2),
        ("O10", 14),
        ("O2", 3),
        ("O7", 9),
        ("O9", 12),
    ]
    assert [line for _, line, _, _ in fast["quarantine"]] == [4, 5, 6, 7, 8, 10, 11, 13]


def test_a_file_whose_records_are_not_one_line_each_takes_the_exact_path(
    tmp_path, monkeypatch, exact_reads
):
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    path = deliver(
        tmp_path / "landing",
        "orders.csv",
        "\n".join(
            [
                HEADER,
                row("O1"),
                "",  # blank line
                'O2,C1,2025-03-01 10:00:00,paid,1,0,1,"2025-03-01',  # a quoted line break
                '10:00:00"',
                row("O3", status="lost"),
                row("O4"),
            ]
        )
        + "\n",
    )
    con, report = load(tmp_path)
    assert exact_reads == [path]
    assert con.execute(
        "select order_id, _row_number from raw.orders__orders order by 2"
    ).fetchall() == [("O1", 2), ("O4", 7)]
    assert [r[:3] for r in tables(con)["quarantine"]] == [
        (
            "orders/2025-03-01/orders.csv",
            4,
            "updated_at: '2025-03-01\n10:00:00' is not a valid timestamp",
        ),
        (
            "orders/2025-03-01/orders.csv",
            6,
            "status: 'lost' is not one of paid, shipped, cancelled, refunded",
        ),
    ]
    assert report.total("rows_read") == 4


def test_a_file_duckdb_refuses_while_validating_is_read_again_exactly(
    tmp_path, monkeypatch, exact_reads
):
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    path = deliver(
        tmp_path / "landing",
        "orders.csv",
        "\n".join([HEADER, row("O1"), "O2,C1,2025-03-01 10:00:00,paid", row("O3")]) + "\n",
    )
    con, report = load(tmp_path)
    assert exact_reads == [path]
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O1",),
        ("O3",),
    ]
    found = tables(con)
    assert [r[1:3] for r in found["quarantine"]] == [(3, "expected 8 fields, found 4")]
    assert found["files"] == [("orders/2025-03-01/orders.csv", 3, "loaded")]
    assert ("orders", 3, 2, 1) in found["loads"]
    assert report.total("rows_read") == 3


def test_a_file_larger_than_the_batch_keeps_its_line_numbers(tmp_path, monkeypatch, exact_reads):
    monkeypatch.setattr(reading, "BATCH_ROWS", 3)
    rows = [row(f"O{n}") for n in range(1, 11)]
    rows[6] = "O7,C1,2025-03-01 10:00:00"  # line 9: too few fields
    text = "\n".join([HEADER, "", *rows])  # a blank line 2, and no final line break
    deliver(tmp_path / "landing", "orders.csv", text)
    con, report = load(tmp_path)
    assert len(exact_reads) == 1
    loaded = con.execute(
        "select order_id, _row_number from raw.orders__orders order by _row_number"
    ).fetchall()
    assert loaded == [(f"O{n}", n + 2) for n in (1, 2, 3, 4, 5, 6, 8, 9)]
    assert [r[1:3] for r in tables(con)["quarantine"]] == [
        (9, "expected 8 fields, found 3"),
        (12, TRUNCATED),
    ]
    assert report.total("rows_read") == 10


@pytest.mark.parametrize("megabytes", [0.6, 3])
def test_a_field_longer_than_128_kb_and_than_duckdbs_line_limit_loads(tmp_path, megabytes):
    header = "ticket_id,is_complaint,status,opened_at,updated_at,description"
    long = "投" * int(megabytes * 2**20 / 3)
    deliver(
        tmp_path / "landing",
        "tickets.csv",
        f'{header}\nT1,false,open,2025-03-01 10:00:00,2025-03-01 10:00:00,"{long}"\n'
        "T2,false,open,2025-03-01 10:00:00,2025-03-01 10:00:00,short\n",
        source="service",
    )
    con, _ = load(tmp_path, SERVICE)
    assert con.execute(
        "select ticket_id, length(description), _row_number from raw.service__tickets order by 1"
    ).fetchall() == [("T1", len(long), 2), ("T2", 5, 3)]


def test_each_batch_of_days_is_committed_so_a_bad_day_keeps_the_days_before(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "COMMIT_ROWS", 1)
    landing = tmp_path / "landing"
    for offset in range(3):
        deliver(landing, "orders.csv", f"{HEADER}\n{row(f'O{offset}')}\n", DAY + timedelta(offset))
    bad = deliver(landing, "orders_2.csv", "order_id\nO9\n", DAY + timedelta(2))
    with pytest.raises(DeliveryError, match="missing required column"):
        load(tmp_path, start=DAY, end=DAY + timedelta(2))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O0",),
        ("O1",),
    ]
    assert con.execute("select distinct partition_date from raw._loads order by 1").fetchall() == [
        (DAY,),
        (DAY + timedelta(1),),
    ]
    con.close()
    bad.unlink()
    con, report = load(tmp_path, start=DAY, end=DAY + timedelta(2))
    assert con.execute("select order_id from raw.orders__orders order by 1").fetchall() == [
        ("O0",),
        ("O1",),
        ("O2",),
    ]
    assert con.execute("select count(*) from raw._loads").fetchone()[0] == 3 * len(ORDERS.entities)


CLEAN_BUT_VARIED = [
    row("O1"),
    row(" O2\u3000"),  # trimmed id
    row("O3", status="PAID "),  # an allowed value in another spelling
    row("O4", total="1e3"),  # a decimal DuckDB's reader and the rules both read as 1000
    row("O5", total=" 7.5"),
    '"O6","C1,2","2025-03-01 10:00:00",paid,"1000.00",0,1,2025-03-01 10:00:00',  # quoted comma
    "O7,,2025-03-01T02:00:00Z,shipped,1,0,1,2025-03-01 11:00:00",  # empty value, zone
    '"O8","C1","2025-03-01 10:00:00","paid","1.00","0","1.00","2025-03-01 10:00:00"',
]


@pytest.fixture
def validations(monkeypatch) -> list[str]:
    """The validation queries run (none when every file went straight to its raw table)."""
    run: list[str] = []

    def counting(*args, **kwargs):
        run.append(args[1])
        return validation_sql(*args, **kwargs)

    monkeypatch.setattr(loader, "validation_sql", counting)
    return run


def _straight_and_exact(tmp_path, monkeypatch, validations: list[str], files: dict[str, str]):
    """Load ``files`` (name: text) of one day with every file large enough to go straight to
    its raw table, then by the exact path; return both tables and reports, and whether the
    first load validated rows."""
    for name, text in files.items():
        deliver(tmp_path / "straight" / "landing", name, text)
        deliver(tmp_path / "exact" / "landing", name, text)
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    straight_con, straight_report = load(tmp_path / "straight")
    validated = bool(validations)
    monkeypatch.setattr(loader, "fast_csv_query", lambda *args: None)
    exact_con, exact_report = load(tmp_path / "exact")
    straight = tables(straight_con), straight_report, validated
    return straight, (tables(exact_con), exact_report)


def test_a_clean_large_file_goes_straight_to_its_raw_table_with_the_same_rows(
    tmp_path, monkeypatch, validations
):
    text = "\n".join([HEADER, *CLEAN_BUT_VARIED]) + "\n"
    (straight, _, validated), (exact, _) = _straight_and_exact(
        tmp_path, monkeypatch, validations, {"orders.csv": text}
    )
    assert not validated  # no row needed a reason

    assert straight == exact
    assert straight["quarantine"] == []
    assert [(r[0], r[5], r[-1]) for r in straight["orders"]] == [
        ("O1", "paid", 2),
        ("O2", "paid", 3),
        ("O3", "paid", 4),
        ("O4", "paid", 5),
        ("O5", "paid", 6),
        ("O6", "paid", 7),
        ("O7", "shipped", 8),
        ("O8", "paid", 9),
    ]


@pytest.mark.parametrize(
    "files",
    [
        {"orders.csv": [row("O1"), row("O2"), row("O1")]},  # an exact copy in the file
        {"orders.csv": [row("O1"), row("O2", total="9")], "orders_b.csv": [row("O2")]},
        {"orders.csv": [row("O1"), row("O2", total="1e400")]},  # refused by DuckDB's reader
        {"orders.csv": [row("O1"), row("O2", total="-1")]},  # a broken rule
    ],
    ids=["key_repeats_in_file", "key_repeats_across_files", "refused_decimal", "broken_rule"],
)
def test_a_large_file_that_cannot_go_straight_is_validated_like_the_exact_path(
    tmp_path, monkeypatch, validations, files
):
    texts = {name: "\n".join([HEADER, *rows]) + "\n" for name, rows in files.items()}
    (straight, straight_report, validated), (exact, exact_report) = _straight_and_exact(
        tmp_path, monkeypatch, validations, texts
    )
    assert validated  # the rules named the broken rows
    assert straight == exact
    assert straight["quarantine"]
    # counted once although the transaction that tried the file straight was rolled back
    assert straight_report.reasons == exact_report.reasons


def test_the_load_gives_the_connection_back_its_threads_after_a_rolled_back_write(
    tmp_path, monkeypatch
):
    # The writes run on one thread; a file DuckDB refuses aborts the write transaction, in
    # which DuckDB refuses any setting, so the setting must come back after the rollback.
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    refused = [row("O1"), row("O2", total="1e400")]
    deliver(tmp_path / "landing", "orders.csv", "\n".join([HEADER, *refused]) + "\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"), config={"threads": 3})
    report = load_source(con, ORDERS, tmp_path / "landing", DAY, DAY, "test")
    assert report.total("rows_loaded") == 1
    assert report.total("rows_quarantined") == 1
    assert con.execute("select current_setting('threads')").fetchone() == (3,)


@pytest.mark.parametrize(
    "value", ["1.005", "+1", "-0", ".5", "5.", "1_000", "00012.30", "-1e-3", "1E2", " 3 ", "NaN"]
)
def test_decimals_typed_by_duckdbs_reader_equal_the_rules_typing(
    tmp_path, monkeypatch, validations, value
):
    text = f"{HEADER}\n{row('O1')}\n{row('O2', total=value)}\n"
    (straight, _, _), (exact, _) = _straight_and_exact(
        tmp_path, monkeypatch, validations, {"orders.csv": text}
    )
    assert straight == exact


def test_a_large_file_with_a_broken_row_keeps_its_straight_rows_and_quarantines_the_row(
    tmp_path, monkeypatch, exact_reads
):
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    rows = [row("O1"), row("O2", status="LOST"), row("O3")]
    deliver(tmp_path / "landing", "orders.csv", "\n".join([HEADER, *rows]) + "\n")
    con, report = load(tmp_path)
    assert exact_reads == []
    found = tables(con)
    assert [(r[0], r[-1]) for r in found["orders"]] == [("O1", 2), ("O3", 4)]
    assert [r[1:3] for r in found["quarantine"]] == [
        (3, "status: 'LOST' is not one of paid, shipped, cancelled, refunded")
    ]
    assert ("orders", 3, 2, 1) in found["loads"]


def test_a_large_file_whose_column_changed_type_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "DIRECT_READ_BYTES", 0)
    rows = [row(f"O{n}", status="LOST") for n in range(3)]
    deliver(tmp_path / "landing", "orders.csv", "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DeliveryError, match=r"orders\.csv: column\(s\) changed type: status"):
        load(tmp_path)


REORDERED = (
    "customer_id,order_id,ordered_at,status,items_amount,discount_amount,total_amount,updated_at"
)


@pytest.fixture
def straight_reads(monkeypatch) -> list[int]:
    """The number of files each read_csv statement reading files straight or directly read."""
    reads: list[int] = []

    def counting(paths, *args, **kwargs):
        reads.append(len(paths))
        return reading.csv_files_query(paths, *args, **kwargs)

    monkeypatch.setattr(loader, "csv_files_query", counting)
    return reads


def _deliver_both(tmp_path: Path, files: dict[tuple[date, str], list[str]]) -> None:
    """Deliver ``files`` ((day, name): lines after the header) to the landing folders of a
    load as it runs and of one by the exact path."""
    for (day, name), lines in files.items():
        header = REORDERED if "reordered" in name else HEADER
        for way in ("fast", "exact"):
            deliver(tmp_path / way / "landing", name, "\n".join([header, *lines]) + "\n", day)


def _load_both(tmp_path: Path, monkeypatch, days: int):
    """Load both landing folders of :func:`_deliver_both` over ``days`` days from DAY; return
    both tables and reports."""
    end = DAY + timedelta(days - 1)
    fast_con, fast_report = load(tmp_path / "fast", end=end)
    monkeypatch.setattr(loader, "fast_csv_query", lambda *args: None)
    exact_con, exact_report = load(tmp_path / "exact", end=end)
    return (tables(fast_con), fast_report), (tables(exact_con), exact_report)


def test_small_files_of_several_days_go_straight_together_with_their_own_line_numbers(
    tmp_path, monkeypatch, exact_reads, straight_reads
):
    _deliver_both(
        tmp_path,
        {
            (DAY, "orders.csv"): [row("O1"), row("O2")],
            (DAY, "orders_b.csv"): [row("O3"), row("O4", status="LOST"), row("O5")],
            (DAY + timedelta(1), "orders.csv"): [row("O1", total="7"), row("O6")],
            (DAY + timedelta(1), "orders_reordered.csv"): [
                "C1,O7,2025-03-01 10:00:00,paid,1,0,1,2025-03-01 10:00:00"
            ],
            (DAY + timedelta(2), "orders.csv.gz"): [row("O8"), row("O9", total="-1"), row("O10")],
            (DAY + timedelta(2), "orders_z.csv"): [row("O11")],
        },
    )
    (fast, fast_report), (exact, exact_report) = _load_both(tmp_path, monkeypatch, 3)
    assert len(exact_reads) == 6  # only the second load read files exactly
    # one statement for the four files sharing a header and compression, and one for the second
    # pass naming their broken rows (the other two files are read one by one)
    assert straight_reads == [4, 4]
    assert fast == exact
    assert fast_report.reasons == exact_report.reasons
    assert sorted(r[-3:] for r in fast["orders"] if r[0] in ("O1", "O5", "O7", "O10", "O11")) == [
        (DAY, "orders/2025-03-01/orders.csv", 2),
        (DAY, "orders/2025-03-01/orders_b.csv", 4),
        (DAY + timedelta(1), "orders/2025-03-02/orders.csv", 2),
        (DAY + timedelta(1), "orders/2025-03-02/orders_reordered.csv", 2),
        (DAY + timedelta(2), "orders/2025-03-03/orders.csv.gz", 4),
        (DAY + timedelta(2), "orders/2025-03-03/orders_z.csv", 2),
    ]
    assert [r[:2] for r in fast["quarantine"]] == [
        ("orders/2025-03-01/orders_b.csv", 3),
        ("orders/2025-03-03/orders.csv.gz", 3),
    ]


@pytest.mark.parametrize(
    "odd",
    [
        [row("O4"), "", row("O5")],  # a blank line: fewer records than lines
        [row("O4"), "O5,C1,2025-03-01 10:00:00,paid"],  # a row DuckDB refuses
        [row("O1"), row("O5")],  # a key repeated on the day
    ],
    ids=["blank_line", "refused_row", "key_repeats"],
)
def test_small_files_that_cannot_go_straight_together_are_validated_like_the_exact_path(
    tmp_path, monkeypatch, odd
):
    _deliver_both(
        tmp_path,
        {
            (DAY, "orders.csv"): [row("O1"), row("O2")],
            (DAY, "orders_b.csv"): odd,
            (DAY, "orders_c.csv"): [row("O6"), row("O7", status="LOST"), row("O8")],
            (DAY + timedelta(1), "orders.csv"): [row("O9")],
        },
    )
    (fast, fast_report), (exact, exact_report) = _load_both(tmp_path, monkeypatch, 2)
    assert fast == exact
    assert fast_report.reasons == exact_report.reasons
    assert ("O8", 4) in [(r[0], r[-1]) for r in fast["orders"]]


def post(post_id: str | int, **values) -> str:
    """A JSON line of a post: a clean one, with ``values`` changed (None leaves a key out)."""
    fields = {
        "post_id": post_id,
        "platform": "weibo",
        "author_handle": "@a",
        "posted_at": "2025-03-01 09:00:00",
        "text": "质量很好",
        "rating": 4,
    } | values
    return json.dumps({k: v for k, v in fields.items() if v is not None}, ensure_ascii=False)


MESSY_BUT_ONE_OBJECT_PER_LINE = [
    post("P1"),
    post(" P2 ", text='a "quoted" \\ slash and 😀 text'),  # escaped by json.dumps
    post("P13").replace("质量很好", r"\u00e9\/"),  # escaped by hand
    post("P3", rating=9),  # out of range
    post("P4", posted_at="2025-03-01T01:00:00Z"),  # a zone
    post("P5", posted_at="yesterday"),  # not a timestamp
    post("P6", text=""),  # empty text is no text
    post("P7", author_handle=None),  # a required key left out
    post("P8", rating=None, likes=0, language="zh"),
    post("P9", mood="happy"),  # an extra key
    post("P10", rating=5, likes=None, product_id=None),
    post("P11", customer_id=None, text=None),
    post("P1", text="again"),  # the key repeated on the day
    post("P12", likes=-0),
]


@pytest.fixture
def whole_jsonl(monkeypatch) -> list[bool]:
    """Whether Arrow read each JSON Lines file whole, in order."""
    read: list[bool] = []
    whole = reading.ExactReader._whole_jsonl

    def spy(self):
        table = whole(self)
        read.append(table is not None)
        return table

    monkeypatch.setattr(reading.ExactReader, "_whole_jsonl", spy)
    return read


def _load_posts(tmp_path: Path, text: str, monkeypatch, by_line: bool, name="posts.jsonl"):
    """The tables and report of loading ``text`` as a day's posts (``by_line``: every file read
    line by line)."""
    folder = tmp_path / ("by_line" if by_line else "whole")
    deliver(folder / "landing", name, text, source="social")
    if by_line:
        monkeypatch.setattr(reading.ExactReader, "_whole_jsonl", lambda self: None)
    con, report = load(folder, SOCIAL)
    found = {
        "posts": con.execute(
            "select * exclude (_load_id, _loaded_at) from raw.social__posts order by all"
        ).fetchall(),
        "quarantine": con.execute(
            "select _file, _row_number, reason, record from raw._quarantine order by all"
        ).fetchall(),
        "loads": con.execute(
            "select rows_read, rows_loaded, rows_quarantined, extra_columns from raw._loads"
        ).fetchall(),
    }
    return found, report


def test_jsonl_read_whole_and_line_by_line_give_identical_rows_and_quarantine(
    tmp_path, monkeypatch, whole_jsonl
):
    text = "".join(line + "\n" for line in MESSY_BUT_ONE_OBJECT_PER_LINE)
    whole, whole_report = _load_posts(tmp_path, text, monkeypatch, by_line=False)
    assert whole_jsonl == [True]
    by_line, by_line_report = _load_posts(tmp_path, text, monkeypatch, by_line=True)
    assert whole == by_line
    assert whole_report.reasons == by_line_report.reasons
    assert whole_report.warnings == by_line_report.warnings
    assert whole["loads"] == [(14, 7, 7, "mood")]
    kept = {r[0]: r for r in whole["posts"]}
    assert kept["P2"][8] == 'a "quoted" \\ slash and 😀 text'
    assert kept["P13"][8] == "é/"
    assert kept["P12"][10] == 0  # likes
    assert kept["P8"][9] is None  # rating
    assert [r[1] for r in whole["quarantine"]] == [1, 4, 6, 7, 8, 12, 13]


@pytest.mark.parametrize(
    "odd",
    [
        [post("P2"), "", post("P3")],
        [post("P2"), "   ", post("P3")],
        [post("P2"), "{not json", post("P3")],
        [post("P2"), '["a list"]'],
        [post("P2")[:-1] + ', "text": "twice"}'],
        [post("P2", rating=4.0)],
        [post("P2", rating="4")],
        [post("P2", likes=True)],
        [post(12345, customer_id=42)],
        [post("P2", text={"zh": "好"})],
        [post("P2", text=["好"])],
        [post("P2", likes=2**64)],
        [post("P2", author_handle="a\tb").replace("\\t", "\t")],
        [post("P2", text="x").replace('"x"', '"\\ud800"')],
        [post("P2") + "\r" + post("P3")],
        [post("P2") + post("P3")],
        [post("P2") + post("P3"), ""],
        [post("P2", text="a\rb").replace("\\r", "\r")],
    ],
    ids=[
        "blank_line",
        "spaces_line",
        "not_json",
        "not_an_object",
        "key_twice",
        "decimal_integer",
        "integer_as_text",
        "boolean_integer",
        "ids_as_numbers",
        "object",
        "array",
        "beyond_64_bits",
        "raw_tab_in_text",
        "lone_surrogate",
        "bare_carriage_return",
        "two_objects_on_a_line",
        "two_objects_on_a_line_and_a_blank_line",
        "raw_carriage_return_in_text",
    ],
)
def test_a_jsonl_file_arrow_may_read_otherwise_is_read_line_by_line(
    tmp_path, monkeypatch, whole_jsonl, odd
):
    text = "".join(line + "\n" for line in [post("P1"), *odd])
    whole, whole_report = _load_posts(tmp_path, text, monkeypatch, by_line=False)
    assert whole_jsonl == [False]
    by_line, by_line_report = _load_posts(tmp_path, text, monkeypatch, by_line=True)
    assert whole == by_line
    assert whole_report.reasons == by_line_report.reasons


@pytest.mark.parametrize("name", ["posts.jsonl", "posts.jsonl.gz"])
def test_a_jsonl_file_without_a_final_line_break_or_gzipped_is_read_whole(
    tmp_path, monkeypatch, whole_jsonl, name
):
    text = post("P1") + "\r\n" + post("P2", rating=7)
    whole, _ = _load_posts(tmp_path, text, monkeypatch, by_line=False, name=name)
    assert whole_jsonl == [True]
    assert whole["loads"] == [(2, 1, 1, None)]
    assert [r[1] for r in whole["quarantine"]] == [2]


def test_an_unpaired_surrogate_escape_is_quarantined_with_its_reason(tmp_path, monkeypatch):
    text = post("P1") + "\n" + post("P2", text="x").replace('"x"', '"\\udc00 x"') + "\n"
    found, _ = _load_posts(tmp_path, text, monkeypatch, by_line=False)
    assert [r[1:3] for r in found["quarantine"]] == [
        (2, "invalid JSON: an unpaired surrogate escape (no character)")
    ]


def test_a_required_key_null_on_every_line_is_read_line_by_line(tmp_path, monkeypatch, whole_jsonl):
    # Arrow gives a key null on every line and a key on no line alike; json tells them apart.
    text = "".join(
        post(f"P{i}", author_handle=None)[:-1] + ', "author_handle": null}\n' for i in (1, 2)
    )
    whole, _ = _load_posts(tmp_path, text, monkeypatch, by_line=False)
    assert whole_jsonl == [False]
    assert whole["loads"] == [(2, 0, 2, None)]


def test_a_jsonl_file_without_a_required_key_on_any_line_is_refused_by_name(tmp_path):
    lines = [post("P1", author_handle=None), post("P2", author_handle=None)]
    deliver(tmp_path / "landing", "posts.jsonl", "\n".join(lines) + "\n", source="social")
    with pytest.raises(DeliveryError, match=r"posts\.jsonl: missing required column\(s\) author"):
        load(tmp_path, SOCIAL)
