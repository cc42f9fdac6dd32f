"""The demo-data generator: determinism, the landing contract, referential sanity and the
planted behaviour that later models must find."""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from demo_data import GenerationSummary, GeneratorConfig, NotDemoData, columns, generate
from ingest.contract import SOURCES, Column, Entity

END = date(2025, 6, 30)
DAYS = 180
FIRST = END - timedelta(days=DAYS - 1)
DECIMAL = re.compile(r"-?\d+\.\d{2}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
INTEGER = re.compile(r"-?\d+")


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, GenerationSummary, list[str]]:
    out = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    summary = generate(
        GeneratorConfig(out=out, customers=600, days=DAYS, end_date=END, seed=5),
        progress=messages.append,
    )
    return out, summary, messages


@pytest.fixture(scope="module")
def landing(generated) -> Path:
    return generated[0]


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise AssertionError(f"JSON boolean {value!r}; expected true/false text or a string")
    return str(value)


def read_rows(path: Path, entity: Entity) -> tuple[list[str], list[dict[str, str | None]]]:
    """Header and rows of one delivered file, values as text (None for empty / null)."""
    if entity.format == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = [
                dict(zip(header, (v or None for v in fields), strict=True)) for fields in reader
            ]
        return header, rows
    objects = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    header = list(objects[0])
    return header, [{k: _as_text(v) for k, v in o.items()} for o in objects]


def check_value(value: str | None, column: Column, where: str) -> None:
    """Fail unless ``value`` is a valid text form of the contract ``column``."""
    if value is None:
        assert not column.required, f"{where}: required {column.name} is empty"
        return
    assert value != "", f"{where}: {column.name} is an empty string instead of null"
    if column.type == "integer":
        assert INTEGER.fullmatch(value), f"{where}: {column.name}={value!r} is not an integer"
    elif column.type == "decimal":
        assert DECIMAL.fullmatch(value), f"{where}: {column.name}={value!r} is not 0.00"
    elif column.type == "boolean":
        assert value in ("true", "false"), f"{where}: {column.name}={value!r} is not boolean"
    elif column.type == "date":
        assert ISO_DATE.fullmatch(value), f"{where}: {column.name}={value!r} is not a date"
        date.fromisoformat(value)
    elif column.type == "timestamp":
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    if column.allowed:
        assert value in column.allowed, f"{where}: {column.name}={value!r} is not allowed"


def load(landing: Path, source: str, entity_name: str) -> list[dict[str, str | None]]:
    """All rows of an entity, each with its delivery folder date in ``_day``."""
    entity = next(
        e for s in SOURCES if s.name == source for e in s.entities if e.name == entity_name
    )
    rows = []
    for path in sorted((landing / source).glob(f"*/{entity.file_glob}")):
        for row in read_rows(path, entity)[1]:
            row["_day"] = path.parent.name
            rows.append(row)
    return rows


def first_delivery(rows: list[dict], key: str) -> dict[str, dict]:
    first: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["updated_at"]):
        first.setdefault(row[key], row)
    return first


def latest(rows: list[dict], key: str) -> dict[str, dict]:
    return {row[key]: row for row in sorted(rows, key=lambda r: r["updated_at"])}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_and_a_rerun_replaces_the_output(tmp_path: Path) -> None:
    config = GeneratorConfig(out=tmp_path / "a", customers=300, days=120, end_date=END, seed=3)
    generate(config)
    first = tree_bytes(tmp_path / "a")
    generate(GeneratorConfig(out=tmp_path / "b", customers=300, days=120, end_date=END, seed=3))
    assert tree_bytes(tmp_path / "b") == first

    stray = tmp_path / "a" / "orders" / "2030-01-01" / "orders.csv"
    stray.parent.mkdir()
    stray.write_text("left over\n")
    (tmp_path / "a" / "notes.txt").write_text("not ours")
    generate(config)
    again = tree_bytes(tmp_path / "a")
    assert again.pop("notes.txt") == b"not ours"
    assert again == first


def test_ids_built_in_pieces_give_the_same_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 3M customers the order rows' ids are built in pieces (one string array cannot hold
    # them); every table must take such ids and write the same bytes.
    generate(GeneratorConfig(out=tmp_path / "a", customers=300, days=120, end_date=END, seed=3))
    monkeypatch.setattr(columns, "_ID_CHUNK_ROWS", 7)
    generate(GeneratorConfig(out=tmp_path / "b", customers=300, days=120, end_date=END, seed=3))

    assert tree_bytes(tmp_path / "b") == tree_bytes(tmp_path / "a")


def test_a_different_seed_gives_different_data(tmp_path: Path) -> None:
    generate(GeneratorConfig(out=tmp_path / "a", customers=300, days=120, end_date=END, seed=3))
    generate(GeneratorConfig(out=tmp_path / "b", customers=300, days=120, end_date=END, seed=4))
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert a["orders/2025-06-30/order_lines.csv"] != b.get("orders/2025-06-30/order_lines.csv")
    assert sum(a[k] != b.get(k) for k in a) > len(a) // 2


def test_default_end_date_is_yesterday(tmp_path: Path) -> None:
    assert GeneratorConfig(out=tmp_path).end_date == date.today() - timedelta(days=1)


def test_layout_is_the_contracts(landing: Path) -> None:
    assert sorted(p.name for p in landing.iterdir()) == sorted(
        [s.name for s in SOURCES] + ["_truth", "_erasure_requests"]
    )
    for source in SOURCES:
        for folder in (landing / source.name).iterdir():
            day = date.fromisoformat(folder.name)
            assert FIRST <= day <= END, folder
            for path in folder.iterdir():
                entity = next(e for e in source.entities if fnmatch.fnmatch(path.name, e.file_glob))
                assert path.name == f"{entity.name}.{entity.format}"
                assert path.read_bytes().count(b"\n") >= 2 - (entity.format == "jsonl"), path
    assert (landing / "crm" / FIRST.isoformat() / "customers.csv").exists()
    assert (landing / "orders" / FIRST.isoformat() / "products.csv").exists()


def test_every_file_has_the_contract_columns_and_types(landing: Path) -> None:
    checked = Counter()
    for source in SOURCES:
        for entity in source.entities:
            for path in sorted((landing / source.name).glob(f"*/{entity.file_glob}")):
                header, rows = read_rows(path, entity)
                assert tuple(header) == entity.column_names, path
                for number, row in enumerate(rows, start=2):
                    assert tuple(row) == entity.column_names, f"{path}:{number}"
                    for column in entity.columns:
                        check_value(row[column.name], column, f"{path}:{number}")
                checked[f"{source.name}/{entity.name}"] += len(rows)
    assert all(checked[f"{s.name}/{e.name}"] > 0 for s in SOURCES for e in s.entities), checked


def test_summary_counts_what_was_written(generated) -> None:
    landing, summary, messages = generated
    for source in SOURCES:
        for entity in source.entities:
            rows = load(landing, source.name, entity.name)
            assert summary.rows[f"{source.name}/{entity.name}"] == len(rows)
    assert summary.first_date == FIRST and summary.last_date == END
    assert summary.files == sum(1 for s in SOURCES for _ in (landing / s.name).rglob("*.*"))
    assert summary.orders == len({r["order_id"] for r in load(landing, "orders", "orders")})
    assert "600 customers" in str(summary)
    assert any(m.startswith("customers: 600") for m in messages)
    assert any(m.startswith("orders: ") for m in messages)


def test_orders_lines_and_amounts_are_consistent(landing: Path) -> None:
    orders = load(landing, "orders", "orders")
    first = first_delivery(orders, "order_id")
    lines = load(landing, "orders", "order_lines")
    products = {r["product_id"] for r in load(landing, "orders", "products")}
    items: dict[str, Decimal] = defaultdict(Decimal)
    numbers: dict[str, list[int]] = defaultdict(list)
    for line in lines:
        order = first[line["order_id"]]
        assert line["_day"] == order["_day"] == order["ordered_at"][:10]
        assert line["product_id"] in products
        amount = int(line["quantity"]) * Decimal(line["unit_price"]) - Decimal(
            line["discount_amount"]
        )
        assert Decimal(line["line_amount"]) == amount
        items[line["order_id"]] += amount
        numbers[line["order_id"]].append(int(line["line_number"]))
    assert set(items) == set(first)
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in numbers.values())
    assert 2.1 < len(lines) / len(first) < 2.9

    for row in orders:
        assert Decimal(row["items_amount"]) == items[row["order_id"]]
        assert Decimal(row["total_amount"]) == (
            Decimal(row["items_amount"])
            - Decimal(row["discount_amount"])
            + Decimal(row["shipping_amount"])
        )
        assert (row["refund_amount"] is not None) == (row["status"] == "refunded")
        if row["status"] == "refunded":
            assert Decimal(row["refund_amount"]) <= Decimal(row["total_amount"])
        assert row["_day"] == row["updated_at"][:10] >= row["ordered_at"][:10]

    statuses = Counter(r["status"] for r in first.values())
    assert set(statuses) == {"paid", "cancelled"}
    assert 0.01 < statuses["cancelled"] / len(first) < 0.06
    changed = Counter(r["status"] for r in orders if r is not first[r["order_id"]])
    assert changed["shipped"] > 0.8 * len(first) and changed["refunded"] > 0
    for row in orders:
        if row["status"] == "shipped":
            waited = (
                date.fromisoformat(row["_day"]) - date.fromisoformat(row["ordered_at"][:10])
            ).days
            assert 1 <= waited <= 3


def test_ids_refer_to_delivered_customers_and_products(landing: Path) -> None:
    customers = {r["customer_id"] for r in load(landing, "crm", "customers")}
    products = {r["product_id"] for r in load(landing, "orders", "products")}
    assert all(re.fullmatch(r"C\d{7}", c) for c in customers)
    for source, entity in (
        ("orders", "orders"),
        ("service", "tickets"),
        ("service", "surveys"),
        ("social", "posts"),
        ("crm", "contacts"),
    ):
        for row in load(landing, source, entity):
            assert row["customer_id"] is None or row["customer_id"] in customers
    for row in load(landing, "social", "posts"):
        assert row["product_id"] is None or row["product_id"] in products
    referred = [r["referred_by"] for r in load(landing, "crm", "customers") if r["referred_by"]]
    assert referred and set(referred) <= customers


def test_crm_delivers_changed_rows_with_opt_outs(landing: Path) -> None:
    rows = load(landing, "crm", "customers")
    per_customer = Counter(r["customer_id"] for r in rows)
    assert max(per_customer.values()) > 1
    first = first_delivery(rows, "customer_id")
    for row in first.values():
        assert row["_day"] == max(row["signup_date"], FIRST.isoformat())
    opted_out = [r for r in rows if r["marketing_opt_out"] == "true"]
    assert opted_out
    for row in opted_out:
        assert row["opted_out_at"] is not None
        assert all(row[f"{c}_consent"] == "false" for c in ("email", "sms", "wechat", "phone"))
    final = latest(rows, "customer_id").values()
    business = [r for r in final if r["customer_type"] == "business"]
    assert 0.03 < len(business) / len(first) < 0.15
    assert all(r["account_manager_id"] and r["revisit_interval_days"] for r in business)
    contacts = load(landing, "crm", "contacts")
    roles = Counter(c["role"] for c in contacts)
    assert roles["decision_maker"] == len({c["customer_id"] for c in contacts})
    assert {c["customer_id"] for c in contacts} <= {r["customer_id"] for r in business}
    assert any(r["social_handles"] for r in final)
    assert any(re.search(r"[\u4e00-\u9fff]", r["name"]) for r in final)
    assert any(re.fullmatch(r"[A-Za-z]+ [A-Za-z]+", r["name"]) for r in final)


def test_infant_formula_and_diapers_are_bought_together(landing: Path) -> None:
    pairs = pq.read_table(landing / "_truth" / "co_purchase_pairs.parquet").to_pylist()
    formula = {p["product_a"] for p in pairs if p["subcategory_a"] == "infant_formula"}
    diapers = {p["product_b"] for p in pairs if p["subcategory_a"] == "infant_formula"}
    baskets: dict[str, set[str]] = defaultdict(set)
    for line in load(landing, "orders", "order_lines"):
        baskets[line["order_id"]].add(line["product_id"])
    with_formula = [b for b in baskets.values() if b & formula]
    share_diapers = sum(bool(b & diapers) for b in baskets.values()) / len(baskets)
    confidence = sum(bool(b & diapers) for b in with_formula) / len(with_formula)
    assert len(with_formula) >= 10
    assert confidence > 0.6
    assert confidence / share_diapers > 5  # lift


def test_guest_orders_carry_messy_or_mistyped_contacts(landing: Path) -> None:
    first = first_delivery(load(landing, "orders", "orders"), "order_id")
    guests = [r for r in first.values() if r["customer_id"] is None]
    assert 0.04 < len(guests) / len(first) < 0.12
    assert all(r["guest_email"] or r["guest_phone"] for r in guests)
    crm_emails = {r["email"] for r in load(landing, "crm", "customers") if r["email"]}
    guest_emails = [r["guest_email"] for r in guests if r["guest_email"]]
    assert any(e.strip().lower() in crm_emails and e not in crm_emails for e in guest_emails)
    assert any(p.startswith(("+86", "0086")) for r in guests if (p := r["guest_phone"]))
    truth = pq.read_table(landing / "_truth" / "guest_orders.parquet").to_pylist()
    assert {t["order_id"] for t in truth} == {r["order_id"] for r in guests}
    assert any(not t["matchable"] and t["customer_id"] for t in truth)  # typos of customers


def test_tickets_surveys_and_bad_handling(landing: Path) -> None:
    rows = load(landing, "service", "tickets")
    final = latest(rows, "ticket_id")
    assert len(rows) > len(final)  # opened, then resolved on a later day
    for ticket_id, row in first_delivery(rows, "ticket_id").items():
        if row is not final[ticket_id]:
            assert row["status"] == "open" and row["resolved_at"] is None
    without_customer = [r for r in final.values() if r["customer_id"] is None]
    assert 0.15 < len(without_customer) / len(final) < 0.45
    assert all(r["contact_phone"] or r["contact_email"] for r in without_customer)
    complaints = [r for r in final.values() if r["is_complaint"] == "true"]
    orders = {r["order_id"] for r in load(landing, "orders", "orders")}
    assert all(r["order_id"] in orders for r in complaints)
    late = [
        r
        for r in complaints
        if r["first_response_at"]
        and datetime.fromisoformat(r["first_response_at"]) - datetime.fromisoformat(r["opened_at"])
        > timedelta(hours=24)
    ]
    assert late

    truth = {
        t["ticket_id"]: t for t in pq.read_table(landing / "_truth" / "tickets.parquet").to_pylist()
    }
    csat: dict[bool, list[int]] = defaultdict(list)
    for survey in load(landing, "service", "surveys"):
        if survey["survey_type"] == "csat":
            csat[truth[survey["ticket_id"]]["bad_handling"]].append(int(survey["score"]))
    assert sum(csat[True]) / len(csat[True]) < sum(csat[False]) / len(csat[False]) - 1


def test_badly_handled_customers_stop_buying(landing: Path) -> None:
    truth = pq.read_table(landing / "_truth" / "customers.parquet").to_pylist()
    churned = {
        t["customer_id"]: t["churned_after_complaint_at"]
        for t in truth
        if t["churned_after_complaint"]
    }
    assert churned
    for row in load(landing, "orders", "orders"):
        if row["customer_id"] in churned:
            assert datetime.fromisoformat(row["ordered_at"]) <= churned[row["customer_id"]]
    tickets = pq.read_table(landing / "_truth" / "tickets.parquet").to_pylist()
    assert {t["customer_id"] for t in tickets if t["triggered_churn"]} == set(churned)


def test_purchases_are_heterogeneous_and_seasonal(landing: Path) -> None:
    first = first_delivery(load(landing, "orders", "orders"), "order_id")
    per_customer = Counter(r["customer_id"] for r in first.values() if r["customer_id"])
    counts = list(per_customer.values())
    mean = sum(counts) / len(counts)
    assert sum((c - mean) ** 2 for c in counts) / len(counts) > 2 * mean  # over-dispersed
    per_day = Counter(r["ordered_at"][:10] for r in first.values())
    may = sum(per_day[f"2025-05-{d:02d}"] for d in range(1, 32)) / 31
    assert per_day["2025-06-18"] > 2 * may
    festival = (
        sum(per_day[(date(2025, 1, 29) + timedelta(days=d)).isoformat()] for d in range(-3, 4)) / 7
    )
    assert festival < may

    truth = {
        t["customer_id"]: t
        for t in pq.read_table(landing / "_truth" / "customers.parquet").to_pylist()
    }
    discount_share: dict[str, list[float]] = defaultdict(list)
    for row in first.values():
        if row["customer_id"]:
            discount_share[truth[row["customer_id"]]["persona"]].append(
                float(row["discount_amount"] != "0.00")
            )
    share = {p: sum(v) / len(v) for p, v in discount_share.items()}
    assert share["price_sensitive"] > 2 * share["quality_seeking"]


def test_social_posts_mix_languages_platforms_and_links(landing: Path) -> None:
    posts = load(landing, "social", "posts")
    assert {p["platform"] for p in posts} == {"wechat", "xiaohongshu", "weibo", "review"}
    assert {p["language"] for p in posts} == {"zh", "en"}
    assert any(re.search(r"[\u4e00-\u9fff]", p["text"]) for p in posts if p["language"] == "zh")
    assert all(
        p["customer_id"] and p["product_id"] and p["rating"]
        for p in posts
        if p["platform"] == "review"
    )
    assert all(p["rating"] is None for p in posts if p["platform"] != "review")
    social = [p for p in posts if p["platform"] != "review"]
    assert any(p["customer_id"] is None for p in social)
    assert any(p["customer_id"] for p in social)
    assert any("太贵" in p["text"] or "expensive" in p["text"] for p in posts)

    truth = {
        t["post_id"]: t for t in pq.read_table(landing / "_truth" / "posts.parquet").to_pylist()
    }
    rating: dict[int, list[int]] = defaultdict(list)
    for post in posts:
        if post["rating"]:
            rating[truth[post["post_id"]]["sentiment"]].append(int(post["rating"]))
    assert sum(rating[-1]) / len(rating[-1]) < 3 < sum(rating[1]) / len(rating[1])


def test_refuses_to_overwrite_deliveries_it_did_not_write(tmp_path):
    real = tmp_path / "crm" / "2025-01-01" / "customers.csv"
    real.parent.mkdir(parents=True)
    real.write_text("customer_id\nREAL\n")
    with pytest.raises(NotDemoData, match="did not write"):
        generate(GeneratorConfig(out=tmp_path, customers=20, days=5, end_date=date(2025, 1, 5)))
    assert real.read_text() == "customer_id\nREAL\n"
