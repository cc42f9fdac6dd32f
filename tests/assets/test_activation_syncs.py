"""The activation_syncs asset end to end: real DuckDB file, real files, a real local webhook
that fails, times out and rejects; planted opt-outs and erasures never leave."""

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from activation.destinations.identifiers import normalise_phone, sha256_hex
from orchestration.defs.activation.exports import activation_syncs
from tests.support import activation_inputs as inputs
from tests.support import exported_text, weixi_resources
from tests.support.webhook_server import Behaviour, WebhookServer

DAY1 = inputs.AUDIENCE_DATE
DAY2 = date(2025, 12, 31)
TIMEOUT = 0.3


def _traces(customer_id: str) -> list[str]:
    """Everything that would reveal a customer in a file or request: id, identifiers, hashes."""
    crm = inputs.crm(60).set_index("customer_id")
    i = int(customer_id[1:]) - 1
    email = f"customer.{i}@example.com"
    phone = normalise_phone(inputs.PHONE_STYLES[0].format(f"{i:04d}{i:04d}"))
    assert customer_id not in crm.index or crm.loc[customer_id, "email"].strip().lower() == email
    return [
        customer_id,
        email,
        phone,
        f"wx_{i}",
        sha256_hex(email),
        sha256_hex(phone),
        sha256_hex(phone.lstrip("+")),
    ]


def _bytes(exports: Path) -> dict[str, bytes]:
    return {str(p.relative_to(exports)): p.read_bytes() for p in exports.rglob("*") if p.is_file()}


def _materialise(warehouse: Path, tmp_path: Path, **settings: object) -> dg.MaterializeResult:
    resources = weixi_resources(
        warehouse,
        tmp_path / "landing",
        exports_dir=tmp_path / "exports",
        webhook_timeout_seconds=TIMEOUT,
        webhook_backoff_seconds=0.01,
        webhook_batch_size=4,
        **settings,
    )
    result = dg.materialize([activation_syncs], resources=resources)
    assert result.success
    return result


def _table(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    inputs.write_inputs(path, inputs.members(inputs.default_assignments()))
    return path


def test_sync_delivers_once_respects_consent_and_forgets(warehouse: Path, tmp_path: Path):
    exports = tmp_path / "exports"
    rejected = {"C0012", "C0031"}
    behaviour = Behaviour(
        fail_share=0.25, slow_share=0.25, slow_seconds=TIMEOUT + 0.3, reject=rejected
    )
    with WebhookServer(behaviour) as server:
        _materialise(warehouse, tmp_path, webhook_url=server.url, webhook_token="tok-123")
        first_requests = len(server.requests)

        # Files per channel and Parquet, ad audiences; nothing planted anywhere.
        day = exports / DAY1.isoformat()
        for name in (
            "email/welcome.csv",
            "sms/win_back.csv",
            "wechat/birthday.csv",
            "email/satisfaction_survey.csv",
            "parquet/welcome.parquet",
            "google_ads/welcome.csv",
            "meta_ads/win_back.csv",
        ):
            assert (day / name).exists(), name
        assert not list(exports.rglob("*strategic_revisit*"))  # tasks are not exported here
        text = exported_text(exports) + json.dumps([r["body"] for r in server.requests])
        for customer in inputs.PLANTED:
            for trace in _traces(customer):
                assert trace not in text, (customer, trace)
        members = inputs.members(inputs.default_assignments())
        controls = members[members["holdout_group"] == "control"]
        email_ids = set(pd.read_csv(day / "email/welcome.csv", dtype=str)["Customer ID"])
        assert not email_ids & set(controls.loc[controls["audience"] == "welcome", "customer_id"])

        # Every exportable member reached the endpoint once per key; refusals kept with reason.
        expected = _table(
            warehouse, "select * from activation.sync_state where destination = 'webhook'"
        )
        welcome = server.holding("welcome")
        assert welcome == set(expected.loc[expected["audience"] == "welcome", "customer_id"])
        assert not welcome & rejected and len(welcome) > 10
        assert {r["authorization"] for r in server.requests} == {"Bearer tok-123"}
        refusals = _table(warehouse, "select * from activation.rejections")
        assert set(refusals["customer_id"]) == rejected & set(
            members.loc[members["holdout_group"] == "treatment", "customer_id"]
        )
        assert set(refusals["reason"]) == {"invalid address"}
        syncs = _table(warehouse, "select * from marts.activation_syncs")
        hook = syncs[syncs["destination"] == "webhook"].set_index("audience")
        assert hook.loc["welcome", "status"] == "partial"  # C0012 refused
        assert hook.loc["welcome", "suppressed_at_export"] == 4
        assert hook.loc["welcome", "failed"] == 0
        assert hook["rejected"].sum() == len(refusals)

        # A re-run of the day sends nothing and rewrites the same bytes.
        before = _bytes(exports)
        _materialise(warehouse, tmp_path, webhook_url=server.url, webhook_token="tok-123")
        assert len(server.requests) == first_requests
        assert _bytes(exports) == before
        rerun = _table(warehouse, "select * from marts.activation_syncs").iloc[len(syncs) :]
        assert (rerun[["added", "removed", "failed"]] == 0).all().all()

        # Next day: C0001 leaves the welcome audience, C0002 asks to be forgotten.
        assignments = inputs.default_assignments()
        assignments["welcome"] = [c for c in assignments["welcome"] if c not in {"C0001"}]
        crm = inputs.crm()
        crm = crm[crm["customer_id"] != "C0002"]
        ledger = pd.concat([inputs.suppressions(), inputs.ledger([("C0002", "all", "erasure")])])
        inputs.write_inputs(warehouse, inputs.members(assignments, DAY2), crm, ledger)
        google_before = pd.read_csv(day / "google_ads/welcome.csv", dtype=str)
        _materialise(warehouse, tmp_path, webhook_url=server.url, webhook_token="tok-123")

        assert server.holding("welcome") == welcome - {"C0001", "C0002"}
        day2 = [r["body"] for r in server.requests[first_requests:]]
        # Refused members are offered again under the new day's key; nobody else is re-added.
        readded = {m["customer_id"] for b in day2 if b["operation"] == "add" for m in b["members"]}
        assert readded == set(refusals["customer_id"])
        removes = [b for b in day2 if b["operation"] == "remove"]
        removed = {m["customer_id"] for b in removes for m in b["members"]}
        assert {"C0001", "C0002"} <= removed
        assert not {
            m for b in removes for m in b["members"] if set(m) != {"idempotency_key", "customer_id"}
        }
    # Earlier files no longer hold the forgotten customer; ad platforms get a remove file.
    assert "C0002" not in (day / "email/welcome.csv").read_text()
    for trace in _traces("C0002")[1:]:
        assert trace not in exported_text(exports / DAY1.isoformat()), trace
    google_after = pd.read_csv(day / "google_ads/welcome.csv", dtype=str)
    assert len(google_after) == len(google_before) - 1
    remove = pd.read_csv(exports / DAY2.isoformat() / "google_ads/welcome.remove.csv", dtype=str)
    assert set(remove["Email"]) == {
        sha256_hex("customer.0@example.com"),
        sha256_hex("customer.1@example.com"),
    }
    applied = _table(warehouse, "select * from activation.erasures_applied")
    assert set(applied["customer_id"]) == {"C0002", inputs.ERASED_GONE, inputs.ERASED_STILL_IN_CRM}


def test_without_a_webhook_the_files_go_and_the_push_is_skipped(warehouse, tmp_path):
    _materialise(warehouse, tmp_path)
    syncs = _table(warehouse, "select * from marts.activation_syncs")
    assert set(syncs.loc[syncs["destination"] == "webhook", "status"]) == {"skipped"}
    assert (tmp_path / "exports" / DAY1.isoformat() / "email" / "welcome.csv").exists()
    state = _table(warehouse, "select * from activation.sync_state")
    assert "webhook" not in set(state["destination"])


def test_export_days_older_than_kept_are_removed_after_the_syncs(warehouse, tmp_path):
    exports = tmp_path / "exports"
    old, kept = (exports / (DAY1 - timedelta(days=n)).isoformat() for n in (30, 29))
    for folder in (old, kept, exports / "archive"):
        (folder / "email").mkdir(parents=True)
        (folder / "email" / "welcome.csv").write_text("customer_id\nC0001\n")
    result = _materialise(warehouse, tmp_path, exports_kept_days=30)
    assert not old.exists() and kept.exists() and (exports / "archive").exists()
    assert (exports / DAY1.isoformat() / "email" / "welcome.csv").exists()
    (materialisation,) = result.asset_materializations_for_node("marts__activation_syncs")
    assert materialisation.metadata["export_days_removed"].value == 1


def test_a_refused_batch_is_not_retried_and_goes_out_the_next_run(warehouse, tmp_path):
    with WebhookServer(Behaviour(always_status=400)) as server:
        _materialise(warehouse, tmp_path, webhook_url=server.url, webhook_max_attempts=5)
        refused = len(server.requests)
        syncs = _table(warehouse, "select * from marts.activation_syncs")
        hook = syncs[syncs["destination"] == "webhook"]
        assert set(hook["status"]) == {"failed"} and hook["added"].sum() == 0
        batches = sum(-(-n // 4) for n in hook["failed"])
        assert refused == batches  # one request per batch: a 400 is never retried
        server.behaviour.always_status = None
        _materialise(warehouse, tmp_path, webhook_url=server.url)
        assert server.holding("welcome") and len(server.requests) > refused
        again = _table(warehouse, "select * from marts.activation_syncs").iloc[len(syncs) :]
        hook = again[again["destination"] == "webhook"]
        assert set(hook["status"]) == {"success"}
        assert hook["added"].sum() == syncs.loc[syncs["destination"] == "webhook", "failed"].sum()


def test_no_audiences_sends_nothing_but_no_ledger_fails_closed(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    result = _materialise(warehouse, tmp_path)
    assert (
        result.asset_materializations_for_node("marts__activation_syncs")[0]
        .metadata["skipped"]
        .value
        == "no audiences"
    )
    inputs.write_inputs(warehouse, inputs.members(inputs.default_assignments()))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table governance.suppressions")
    resources = weixi_resources(warehouse, tmp_path / "landing", exports_dir=tmp_path / "out")
    failed = dg.materialize([activation_syncs], resources=resources, raise_on_error=False)
    assert not failed.success
    assert not (tmp_path / "out").exists()
