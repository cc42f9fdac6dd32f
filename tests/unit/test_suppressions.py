"""The consent ledger library on hand-made CRM versions: opt-outs are read from every version,
the ledger only grows, erasure requests scrub the raw rows, bad request files fail clearly."""

import random
from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from activation import suppressions
from activation.suppressions import (
    ErasureRequestError,
    crm_suppressions,
    read_erasure_requests,
    update_ledger,
)
from ingest.contract import source
from ingest.loader import ensure_raw_tables

NOW = datetime(2025, 7, 1, 12, 0)


def _crm(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Insert CRM customer versions (missing columns null) into raw.crm__customers."""
    ensure_raw_tables(con, (source("crm"),))
    for number, row in enumerate(rows, start=1):
        values = {
            "customer_type": "consumer",
            "signup_date": "2025-01-01",
            "_file": "crm/day/customers.csv",
            "_row_number": number,
            **row,
        }
        values["_partition_date"] = values["updated_at"][:10]
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        con.execute(
            f"insert into raw.crm__customers ({columns}) values ({marks})", list(values.values())
        )


def _ledger(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select * from governance.suppressions order by all").df()


def test_opt_outs_are_read_from_every_version_not_just_the_latest():
    con = duckdb.connect()
    _crm(
        con,
        [
            # A: e-mail withdrawn, then a stale re-import says true again
            {"customer_id": "A", "updated_at": "2025-01-01 09:00:00", "email_consent": True},
            {"customer_id": "A", "updated_at": "2025-02-01 09:00:00", "email_consent": False},
            {"customer_id": "A", "updated_at": "2025-03-01 09:00:00", "email_consent": True},
            # B: opted out of all marketing (its consents fall with it), then re-imported
            {
                "customer_id": "B",
                "updated_at": "2025-01-01 09:00:00",
                "sms_consent": True,
                "marketing_opt_out": False,
            },
            {
                "customer_id": "B",
                "updated_at": "2025-02-03 10:00:00",
                "sms_consent": False,
                "marketing_opt_out": True,
                "opted_out_at": "2025-02-03 09:30:00",
            },
            {"customer_id": "B", "updated_at": "2025-03-01 09:00:00", "marketing_opt_out": False},
            # C: a consent that is not delivered (null) is no change; never consented is none
            {"customer_id": "C", "updated_at": "2025-01-01 09:00:00", "wechat_consent": True},
            {"customer_id": "C", "updated_at": "2025-01-05 09:00:00", "phone_consent": False},
            {"customer_id": "C", "updated_at": "2025-01-09 09:00:00", "wechat_consent": True},
        ],
    )
    found = crm_suppressions(con)
    assert found[["customer_id", "channel", "reason"]].values.tolist() == [
        ["A", "email", "channel_opt_out"],
        ["B", "all", "marketing_opt_out"],
    ]
    assert found["effective_at"].tolist() == [
        pd.Timestamp("2025-02-01 09:00:00"),
        pd.Timestamp("2025-02-03 09:30:00"),
    ]
    assert found["evidence"].iloc[0] == "raw.crm__customers 2025-02-01 crm/day/customers.csv row 2"


def test_only_customers_who_can_have_a_suppression_are_ordered_and_the_rows_are_the_same(
    monkeypatch,
):
    rng = random.Random(7)
    values = (True, False, None)
    rows = [
        {
            "customer_id": f"{rng.choice(['', ' '])}C{c}",
            "updated_at": f"2025-0{1 + v}-0{1 + rng.randrange(9)} 09:00:00",
            "marketing_opt_out": rng.choice((False, None, False, False, True)),
            **{f"{ch}_consent": rng.choice(values) for ch in ("email", "sms", "wechat", "phone")},
        }
        for c in range(300)
        for v in range(rng.randrange(1, 5))
    ]
    con = duckdb.connect()
    _crm(con, rows)
    found = crm_suppressions(con)
    # Every customer's versions numbered, as before the customers were narrowed down.
    every = "select trim(customer_id) from raw.crm__customers -- not by {flips}\n"
    monkeypatch.setattr(suppressions, "_SUPPRESSIBLE_SQL", every)
    assert len(found) > 50
    pd.testing.assert_frame_equal(found, crm_suppressions(con))


def test_the_ledger_only_grows_and_a_rerun_changes_nothing(tmp_path):
    con = duckdb.connect()
    requests = tmp_path / "requests"
    requests.mkdir()
    _crm(
        con,
        [
            {"customer_id": "A", "updated_at": "2025-01-01 09:00:00", "email_consent": True},
            {"customer_id": "A", "updated_at": "2025-02-01 09:00:00", "email_consent": False},
            {"customer_id": "E", "updated_at": "2025-01-01 09:00:00", "name": "Erased Person"},
            {"customer_id": "F", "updated_at": "2025-01-01 09:00:00", "referred_by": "E"},
        ],
    )
    con.execute(
        "insert into raw._quarantine (source, entity, record) values "
        """('crm', 'customers', '{"customer_id": "E", "name": "Erased Person"}'), """
        "('crm', 'customers', 'E,consumer,Erased Person'), ('crm', 'customers', 'A,x')"
    )
    first = update_ledger(con, requests, NOW)
    assert first.totals == {"channel_opt_out": 1}
    before = _ledger(con)
    assert len(update_ledger(con, requests, NOW + timedelta(days=1)).appended) == 0
    pd.testing.assert_frame_equal(_ledger(con), before)

    # The CRM row is corrected away (a day re-delivered): the ledger still remembers.
    con.execute("delete from raw.crm__customers where customer_id = 'A'")
    (requests / "r.csv").write_text("customer_id,requested_at,reason\nE,2025-06-30,asked\n")
    second = update_ledger(con, requests, NOW)
    assert second.totals == {"channel_opt_out": 1, "erasure": 1}
    assert second.scrubbed_rows == {
        "raw.crm__customers": 1,
        "raw.crm__contacts": 0,
        "raw.crm__customers.referred_by": 1,
        "raw._quarantine": 2,
    }
    assert con.execute("select referred_by from raw.crm__customers").fetchall() == [(None,)]
    assert con.execute("select record from raw._quarantine").fetchall() == [("A,x",)]
    erasure = _ledger(con).query("reason == 'erasure'").iloc[0]
    assert (erasure["customer_id"], erasure["channel"]) == ("E", "all")
    assert erasure["evidence"] == "r.csv row 1 (asked)"
    assert erasure["recorded_at"] == pd.Timestamp(NOW)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer_id,reason\nC1,asked\n", "bad.csv: missing required column(s) requested_at"),
        ("customer_id,requested_at\nC1,2025-06-01\n ,2025-06-01\n", "bad.csv row 2: customer_id"),
        ("customer_id,requested_at\nC1,yesterday\n", "bad.csv row 1: requested_at 'yesterday'"),
        ("customer_id,requested_at\nC1,2031-01-01\n", "bad.csv row 1: requested_at 2031"),
        ("customer_id,requested_at\nC1,2025-01-01,x\n", "bad.csv row 1: more values than"),
    ],
)
def test_a_bad_request_file_names_file_row_and_rule(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(ErasureRequestError, match="rule|needs") as raised:
        read_erasure_requests(tmp_path, NOW)
    assert message in str(raised.value)
