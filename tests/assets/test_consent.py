"""The consent ledger and the right to be forgotten as assets: opt-outs survive stale CRM
re-imports, erased customers leave every output, re-runs change nothing, a bad request file
fails the asset (the library on hand-made rows: tests/unit/test_suppressions.py)."""

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from activation.suppressions import read_erasure_requests
from orchestration.cli import main
from orchestration.defs.activation.suppressions import suppressions
from orchestration.defs.raw import ingest_assets
from orchestration.settings import get_settings
from tests.support import table_snapshot, weixi_resources

CHANNELS = ("email", "sms", "wechat", "phone")


def test_a_bad_request_file_fails_the_asset_without_touching_the_ledger(tmp_path):
    requests = tmp_path / "requests"
    requests.mkdir()
    (requests / "ok.csv").write_text("customer_id,requested_at\nC1,2025-01-01\n")
    warehouse = tmp_path / "warehouse.duckdb"
    resources = weixi_resources(warehouse, tmp_path / "landing", erasure_requests_dir=requests)
    assert dg.materialize([suppressions], resources=resources).success
    (requests / "typo.csv").write_text("customer,requested_at\nC2,2025-01-01\n")
    result = dg.materialize([suppressions], resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "typo.csv: missing required column(s) customer_id" in str(failure.event_specific_data)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select customer_id from governance.suppressions").fetchall() == [
            ("C1",)
        ]


def test_weixi_forget_writes_a_request_the_next_run_reads(tmp_path, monkeypatch):
    folder = tmp_path / "requests"
    monkeypatch.setenv("WEIXI_ERASURE_REQUESTS_DIR", str(folder))
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(main, ["forget", "C0000007", "C0000009", "--reason", "email"])
        second = CliRunner().invoke(main, ["forget", "C0000011"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "takes effect in the next run" in first.output
    assert second.exit_code == 0 and len(list(folder.glob("*.csv"))) == 2
    requests, files = read_erasure_requests(folder, datetime.now() + timedelta(days=1))
    assert files == 2
    assert sorted(requests["customer_id"]) == ["C0000007", "C0000009", "C0000011"]
    assert set(requests["reason"]) == {"erasure"}
    refused = CliRunner().invoke(main, ["forget"])
    assert refused.exit_code != 0


# The whole pipeline on the demo data (tests/conftest.py pipeline_warehouse)


@pytest.fixture(scope="module")
def planted(demo_landing: Path) -> pd.DataFrame:
    return pd.read_parquet(demo_landing / "_truth" / "consent.parquet")


@pytest.fixture(scope="module")
def con(pipeline_warehouse):
    warehouse, _ = pipeline_warehouse
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        yield connection


def _latest_crm_rows(con: duckdb.DuckDBPyConnection, ids: list[str]) -> pd.DataFrame:
    return con.execute(
        "select * from raw.crm__customers where customer_id in (select unnest(?)) "
        "qualify row_number() over (partition by customer_id order by updated_at desc) = 1",
        [ids],
    ).df()


def test_planted_reimports_stay_suppressed_in_customer_360(con, planted):
    reimported = planted[planted["planted"].str.startswith("reimport_after_")]
    assert set(reimported["planted"]) == {
        "reimport_after_marketing_opt_out",
        "reimport_after_channel_opt_out",
    }
    ids = reimported["customer_id"].tolist()
    latest = _latest_crm_rows(con, ids).set_index("customer_id")
    c360 = con.execute(
        "select * from marts.customer_360 where customer_id in (select unnest(?))", [ids]
    ).df()
    c360 = c360.set_index("customer_id")
    for row in reimported.itertuples():
        # The re-import is the latest CRM row and says the opposite of the opt-out ...
        assert latest.loc[row.customer_id, "updated_at"] == row.planted_at
        if row.channel == "all":
            assert not latest.loc[row.customer_id, "marketing_opt_out"]
            assert c360.loc[row.customer_id, "marketing_opt_out"]
            assert c360.loc[row.customer_id, "opted_out_at"] == row.opted_out_at
            assert not c360.loc[row.customer_id, [f"{c}_consent" for c in CHANNELS]].any()
        else:
            assert latest.loc[row.customer_id, f"{row.channel}_consent"]
            # ... but customer_360 keeps the customer suppressed.
            assert not c360.loc[row.customer_id, f"{row.channel}_consent"]


def test_every_channel_opt_out_in_the_ledger_is_honoured(con):
    counts = dict(
        con.execute("select reason, count(*) from governance.suppressions group by all").fetchall()
    )
    assert counts["channel_opt_out"] > 0 and counts["marketing_opt_out"] > 0
    violations = con.execute(
        f"""
        select count(*) from governance.suppressions s
        join marts.customer_360 c using (customer_id)
        where (s.channel = 'all' and (not c.marketing_opt_out
                or {" or ".join(f"c.{ch}_consent" for ch in CHANNELS)}))
           {"".join(f" or (s.channel = '{ch}' and c.{ch}_consent)" for ch in CHANNELS)}
        """
    ).fetchone()[0]
    assert violations == 0


BASE_TABLES = tuple(
    f"staging.base_{t}"
    for t in ("orders__orders", "orders__order_lines", "service__tickets", "social__posts")
)
"""The raw deliveries deduplicated by dbt (`models/staging/*/base/`): they keep the ids as
delivered, like the raw tables; the staging views on them unlink or drop erased customers."""


def _leftovers(con: duckdb.DuckDBPyConnection, ids: list[str], skip: set[str]) -> list[str]:
    """Tables (but ``skip``, tables or schemas) where any of ``ids`` appears as a word in a
    text column or a list of texts."""
    pattern = rf"(^|[^A-Za-z0-9_])({'|'.join(ids)})([^A-Za-z0-9_]|$)"
    columns = con.execute(
        """select table_schema || '.' || table_name, column_name, data_type
        from information_schema.columns
        where data_type = 'VARCHAR' or data_type like 'VARCHAR[]%'"""
    ).fetchall()
    texts: dict[str, list[str]] = {}
    for table, column, data_type in columns:
        if table not in skip and table.split(".")[0] not in skip:
            text = (
                f'"{column}"' if data_type == "VARCHAR" else f"array_to_string(\"{column}\", ' ')"
            )
            texts.setdefault(table, []).append(f"coalesce({text}, '')")
    found = []
    for table, parts in texts.items():
        text = f"concat_ws(' ', {', '.join(parts)})"
        sql = f"select count(*) from {table} where regexp_matches({text}, ?)"
        hits = con.execute(sql, [pattern]).fetchone()[0]
        if hits:
            found.append(f"{table}: {hits}")
    return found


def test_erased_customers_leave_every_table_but_the_ledger(con, planted):
    erased = planted.loc[planted["planted"] == "erasure", "customer_id"].tolist()
    assert len(erased) >= 2
    # They did business: their orders are still there, without the link to them.
    raw_orders = con.execute(
        "select count(*) from raw.orders__orders where customer_id in (select unnest(?))",
        [erased],
    ).fetchone()[0]
    assert raw_orders > 0
    # The raw orders, tickets, surveys, posts and imported campaign members keep the id as
    # delivered (staging unlinks or drops it).
    delivered = {"governance", "staging.stg_governance__suppressions", "raw.orders__orders"}
    delivered |= {"raw.service__tickets", "raw.campaigns__members"}
    delivered |= {"raw.service__surveys", "raw.social__posts"}
    # The base tables are those raw deliveries deduplicated (one row per key, as delivered).
    delivered |= set(BASE_TABLES)
    assert _leftovers(con, erased, delivered) == []
    unlinked = con.execute(
        "select count(*) from marts.fct_orders where customer_id is null and source_customer_id "
        "is null and order_id in (select order_id from raw.orders__orders "
        "where customer_id in (select unnest(?)))",
        [erased],
    ).fetchone()[0]
    assert unlinked > 0


def test_a_rerun_and_a_reloaded_old_delivery_bring_nobody_back(
    pipeline_warehouse, demo_landing, planted, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], warehouse)
    resources = weixi_resources(warehouse, demo_landing)
    erased = planted.loc[planted["planted"] == "erasure", "customer_id"].tolist()
    before = table_snapshot(warehouse, ("governance", "raw"))

    assert dg.materialize([suppressions], resources=resources).success
    after = table_snapshot(warehouse, ("governance", "raw"))
    for table in ("governance.suppressions", "raw.crm__customers", "raw.crm__contacts"):
        pd.testing.assert_frame_equal(after[table], before[table])

    # Loading a CRM delivery that holds them again brings their raw rows back, not into
    # staging; the next ledger update deletes them again.
    day = next(
        p.parent.name
        for p in sorted((demo_landing / "crm").glob("*/customers.csv"))
        if any(c in p.read_text(encoding="utf-8") for c in erased)
    )
    crm = next(a for a in ingest_assets if a.key == dg.AssetKey(["raw", "crm"]))
    assert dg.materialize([crm], resources=resources, partition_key=day).success
    count = "select count(*) from {} where customer_id in (select unnest(?))"
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute(count.format("raw.crm__customers"), [erased]).fetchone()[0] > 0
        assert con.execute(count.format("staging.stg_crm__customers"), [erased]).fetchone()[0] == 0
    assert dg.materialize([suppressions], resources=resources).success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in ("raw.crm__customers", "raw.crm__contacts"):
            assert con.execute(count.format(table), [erased]).fetchone()[0] == 0


def test_erased_customers_leave_the_model_marts(scored_warehouse, ml_landing):
    truth = pd.read_parquet(ml_landing / "_truth" / "consent.parquet")
    erased = truth.loc[truth["planted"] == "erasure", "customer_id"].tolist()
    with duckdb.connect(str(scored_warehouse), read_only=True) as con:
        for table in (
            "churn_scores",
            "customer_value",
            "customer_personas",
            "recommendations",
            "audience_candidates",
        ):
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] > 0, table
        skip = {"governance", "staging.stg_governance__suppressions", "raw", *BASE_TABLES}
        assert _leftovers(con, erased, skip) == []
