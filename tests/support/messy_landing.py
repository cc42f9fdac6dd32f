"""A small landing folder with every kind of bad delivery Weixi defines a behaviour for.

A generated base (40 customers, six days) plus hand-written files, each planting one kind of
mess; the constants name what a test should find. Every day of 2025-03-01 .. 2025-03-06.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

from demo_data import GeneratorConfig, generate
from ingest.contract import CRM, ORDERS, SERVICE, Entity

START, END = date(2025, 3, 1), date(2025, 3, 6)
DAYS = [date(2025, 3, d) for d in range(1, 7)]

MALFORMED_FILE = "orders/2025-03-02/orders_manual.csv"
RESENT_FILE = "orders/2025-03-02/orders_manual_resent.csv"
"""Same bytes as MALFORMED_FILE, same day: skipped."""
CRM_FILE = "crm/2025-03-01/customers_manual.csv"
OTHER_DAY_COPY = "crm/2025-03-05/customers_export.csv"
"""Same bytes as CRM_FILE, delivered again for another day: every row quarantined."""
EXTRA_COLUMN_FILE = "service/2025-03-03/tickets_manual.csv"
GBK_FILE = "crm/2025-03-03/customers_gbk.csv"
GBK_NAMES = {"C-GBK1": "张伟", "C-GBK2": "欧阳娜娜", "C-GBK3": "王喆"}
GBK_CITIES = {"C-GBK1": "北京", "C-GBK2": "上海", "C-GBK3": "广州"}
AMOUNTS_FILE = "orders/2025-03-04/orders_amounts.csv"
LINES_FILE = "orders/2025-03-04/order_lines_amounts.csv"
FUTURE_FILE = "orders/2025-03-04/orders_future.csv"
FUTURE_CRM_FILE = "crm/2025-03-04/customers_future.csv"
UNKNOWN_FILE = "orders/2025-03-05/orders_unknown.csv"
LATE_CRM_FILE = "crm/2025-03-06/customers_late.csv"
MIDNIGHT_FILES = ("orders/2025-03-02/orders_midnight.csv", "orders/2025-03-03/orders_midnight.csv")
BAD_JSON_FILE = "social/2025-03-04/posts_manual.jsonl"


def csv_text(
    entity: Entity,
    rows: list[dict[str, object]],
    extra: tuple[str, ...] = (),
    without: tuple[str, ...] = (),
) -> str:
    """A CSV delivery of ``entity``: its contract columns (plus ``extra``, less ``without``),
    one line per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [c for c in entity.column_names if c not in without] + list(extra)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return out.getvalue()


def entity(source, name: str) -> Entity:
    return next(e for e in source.entities if e.name == name)


CUSTOMERS = entity(CRM, "customers")
ORDER = entity(ORDERS, "orders")
LINES = entity(ORDERS, "order_lines")
TICKETS = entity(SERVICE, "tickets")


def customer(customer_id: str, day: date, **values: object) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "customer_type": "consumer",
        "signup_date": "2024-05-01",
        "updated_at": f"{day} 09:00:00",
        "email_consent": "true",
        **values,
    }


def order(order_id: str | None, customer_id: str | None, at: str, total: str = "100.00", **values):
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "ordered_at": at,
        "status": "paid",
        "channel": "app",
        "currency": "CNY",
        "items_amount": total,
        "discount_amount": "0.00",
        "total_amount": total,
        "updated_at": at,
        **values,
    }


def write(landing: Path, relative: str, text: str, encoding: str = "utf-8") -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def build_messy_landing(landing: Path) -> Path:
    """Write the generated base and every planted mess into ``landing``."""
    generate(GeneratorConfig(out=landing, customers=40, days=len(DAYS), end_date=END, seed=5))
    # No demo erasure requests: erasing deletes raw CRM rows after the load (see
    # tests/assets/test_consent.py), and these tests count exactly what the loader loaded.
    shutil.rmtree(landing / "_erasure_requests")
    write(
        landing,
        CRM_FILE,
        csv_text(CUSTOMERS, [customer("C-M1", DAYS[0]), customer("C-M2", DAYS[0])]),
    )
    shutil.copyfile(landing / CRM_FILE, (landing / OTHER_DAY_COPY))
    malformed = csv_text(
        ORDER,
        [
            order("M-OK", "C-M1", "2025-03-02 10:00:00"),
            order("M-LOST", "C-M1", "2025-03-02 10:00:00", status="lost"),
            order("M-TIME", "C-M1", "not a time", updated_at="2025-03-02 10:00:00"),
            order(None, "C-M2", "2025-03-02 11:00:00"),
        ],
    )
    malformed += "M-SHORT,C-M1,,,2025-03-02 12:00:00,paid\n"
    write(landing, MALFORMED_FILE, malformed)
    shutil.copyfile(landing / MALFORMED_FILE, landing / RESENT_FILE)
    write(
        landing,
        EXTRA_COLUMN_FILE,
        csv_text(
            TICKETS,
            [
                {
                    "ticket_id": "T-X1",
                    "customer_id": "C-M1",
                    "is_complaint": "true",
                    "status": "open",
                    "opened_at": "2025-03-03 09:00:00",
                    "updated_at": "2025-03-03 09:00:00",
                    "agent_mood": "calm",
                }
            ],
            extra=("agent_mood",),
            without=("compensation_amount",),
        ),
    )
    write(
        landing,
        GBK_FILE,
        csv_text(
            CUSTOMERS,
            [
                customer(
                    cid,
                    DAYS[2],
                    name=name,
                    city=GBK_CITIES[cid],
                    occupation="工程师",
                    tags="高价值;老客户",
                )
                for cid, name in GBK_NAMES.items()
            ],
        ),
        encoding="gbk",
    )
    write(
        landing,
        AMOUNTS_FILE,
        csv_text(
            ORDER,
            [
                order("A-NEG", "C-M1", "2025-03-04 10:00:00", total="-5.00"),
                order("A-BIG", "C-M1", "2025-03-04 10:00:00", total="2000000.00"),
                order("A-OK", "C-M1", "2025-03-04 10:00:00"),
            ],
        ),
    )
    line = {"order_id": "A-OK", "product_id": "SKU00001", "unit_price": "25.00"}
    write(
        landing,
        LINES_FILE,
        csv_text(
            LINES,
            [
                {**line, "line_number": 1, "quantity": 20000, "line_amount": "100.00"},
                {**line, "line_number": 2, "quantity": 0, "line_amount": "0.00"},
                {**line, "line_number": 3, "quantity": 1, "unit_price": "-1.00", "line_amount": 1},
                {**line, "line_number": 4, "quantity": 4, "line_amount": "100.00"},
            ],
        ),
    )
    write(
        landing,
        FUTURE_FILE,
        csv_text(
            ORDER,
            [
                order("F-2030", "C-M1", "2030-01-01 10:00:00", updated_at=f"{DAYS[3]} 10:00:00"),
                order("F-NEXT", "C-M1", "2025-03-05 02:00:00", updated_at=f"{DAYS[3]} 10:00:00"),
                order("F-TOLERATED", "C-M1", "2025-03-05 00:30:00"),
            ],
        ),
    )
    write(
        landing,
        FUTURE_CRM_FILE,
        csv_text(CUSTOMERS, [customer("C-FUTURE", DAYS[3], signup_date="2025-03-09")]),
    )
    write(
        landing,
        UNKNOWN_FILE,
        csv_text(
            ORDER,
            [
                order("U-NEVER", "C-NOT-IN-CRM", "2025-03-05 10:00:00"),
                order("U-LATE", "C-LATE", "2025-03-05 11:00:00"),
            ],
        ),
    )
    write(landing, LATE_CRM_FILE, csv_text(CUSTOMERS, [customer("C-LATE", DAYS[5])]))
    write(
        landing,
        MIDNIGHT_FILES[0],
        csv_text(ORDER, [order("E-2359", "C-M1", "2025-03-02 23:59:59")]),
    )
    write(
        landing,
        MIDNIGHT_FILES[1],
        csv_text(
            ORDER,
            [
                order("E-0000", "C-M2", "2025-03-03 00:00:00"),
                order("E-UTC", "C-M2", "2025-03-03T15:59:59Z", updated_at="2025-03-03 23:59:59"),
            ],
        ),
    )
    post = {
        "post_id": "P-OK",
        "platform": "weibo",
        "author_handle": "@someone",
        "posted_at": "2025-03-04 08:00:00",
        "text": "质量很好但是太贵了",
    }
    write(landing, BAD_JSON_FILE, json.dumps(post, ensure_ascii=False) + "\n{not json\n")
    return landing
