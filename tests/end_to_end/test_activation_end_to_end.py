"""Activation on the two-year demo warehouse, end to end: the real audiences go out as files, ad
audiences and pushes to a real local webhook that fails and times out; no planted opt-out or
erased customer leaves; a re-run sends nothing twice; the lift table shows the planted effect."""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from activation.destinations.identifiers import normalise_email, normalise_phone, sha256_hex
from activation.holdout import TREATMENT
from orchestration.defs.activation.audiences import account_manager_tasks, audience_members
from orchestration.defs.activation.exports import activation_syncs
from orchestration.defs.activation.lift import campaign_lift_table
from tests.support import exported_text, weixi_resources
from tests.support.webhook_server import Behaviour, WebhookServer

TIMEOUT = 0.3


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _files(exports: Path) -> dict[str, bytes]:
    return {str(p.relative_to(exports)): p.read_bytes() for p in exports.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def night(tmp_path_factory, scored_warehouse, ml_landing):
    """One night of activation on a copy of the scored demo warehouse, pushed to a webhook that
    answers 500 to a quarter of the batches and too late to another quarter; then the same
    night again."""
    folder = tmp_path_factory.mktemp("activation")
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(scored_warehouse, warehouse)
    behaviour = Behaviour(fail_share=0.25, slow_share=0.25, slow_seconds=TIMEOUT + 0.3)
    with WebhookServer(behaviour) as server:
        resources = weixi_resources(
            warehouse,
            ml_landing,
            exports_dir=folder / "exports",
            webhook_url=server.url,
            webhook_token="test-token",
            webhook_timeout_seconds=TIMEOUT,
            webhook_backoff_seconds=0.01,
            webhook_batch_size=50,
        )
        assets = [audience_members, account_manager_tasks, activation_syncs, campaign_lift_table]
        assert dg.materialize(assets, resources=resources).success
        first = {
            "requests": list(server.requests),
            "files": _files(folder / "exports"),
            "syncs": _query(warehouse, "select * from marts.activation_syncs"),
            "holding": {
                a: server.holding(a) for a in {m["_audience"] for m in server.members.values()}
            },
        }
        assert dg.materialize([activation_syncs], resources=resources).success
        again = {
            "requests": server.requests[len(first["requests"]) :],
            "files": _files(folder / "exports"),
            "syncs": _query(warehouse, "select * from marts.activation_syncs").iloc[
                len(first["syncs"]) :
            ],
        }
    return warehouse, folder / "exports", first, again


@pytest.fixture(scope="module")
def never_sent(night, ml_landing) -> pd.DataFrame:
    """Customers the demo plants as opted out of marketing (before the audience date, including
    the stale CRM re-imports that say otherwise) or as erased, with every identifier any CRM
    version ever held for them."""
    warehouse = night[0]
    audience_date = _query(warehouse, "select max(audience_date) from marts.audience_members")
    day = pd.Timestamp(audience_date.iloc[0, 0])
    customers = pd.read_parquet(ml_landing / "_truth" / "customers.parquet")
    opted_out = customers.loc[
        pd.to_datetime(customers["opted_out_at"]).dt.normalize() <= day, "customer_id"
    ]
    consent = pd.read_parquet(ml_landing / "_truth" / "consent.parquet")
    erased = consent.loc[consent["planted"] == "erasure", "customer_id"]
    assert len(opted_out) > 20 and len(erased) >= 2, "the demo plants both"
    ids = sorted(set(opted_out) | set(erased))
    crm = pd.concat(
        pd.read_csv(path, dtype=str)
        for path in sorted((ml_landing / "crm").glob("*/customers*.csv"))
    )
    crm = crm[crm["customer_id"].str.strip().isin(ids)]
    return crm[["customer_id", "email", "phone"]].drop_duplicates()


def test_every_audience_with_members_goes_out(night):
    warehouse, exports, first, _ = night
    members = _query(warehouse, "select * from marts.audience_members")
    sent = members[(members["holdout_group"] == TREATMENT) & (members["kind"] != "task")]
    assert sent["audience"].nunique() >= 15
    syncs = first["syncs"]
    assert set(sent["audience"]) <= set(syncs["audience"])
    assert set(syncs["status"]) <= {"success", "partial"}, syncs[["audience", "status", "message"]]
    hook = syncs[syncs["destination"] == "webhook"].set_index("audience")
    assert hook["failed"].sum() == 0
    assert hook["added"].sum() == sum(len(h) for h in first["holding"].values()) > 100
    parquet = {p.stem for p in exports.rglob("parquet/*.parquet")}
    assert set(sent["audience"]) <= parquet
    assert list(exports.rglob("account_managers/*.csv"))


def test_no_planted_opt_out_or_erasure_leaves(night, never_sent):
    _, exports, first, _ = night
    text = exported_text(exports) + json.dumps([r["body"] for r in first["requests"]])
    traces = set(never_sent["customer_id"].str.strip())
    for email in never_sent["email"].dropna():
        traces |= {email.strip(), sha256_hex(normalise_email(email))}
    for phone in never_sent["phone"].dropna():
        e164 = normalise_phone(phone)
        if e164:
            traces |= {e164, sha256_hex(e164), sha256_hex(e164.lstrip("+"))}
    leaked = sorted(t for t in traces if t and t in text)
    assert not leaked, f"{len(leaked)} identifiers of opted-out or erased customers left"


def test_a_rerun_sends_nothing_twice(night):
    _, _, first, again = night
    assert again["requests"] == []
    assert again["files"] == first["files"]
    assert (again["syncs"][["added", "removed", "failed"]] == 0).all().all()


def test_the_lift_table_shows_the_planted_win_back_effect(night):
    warehouse = night[0]
    lift = _query(
        warehouse,
        "select * from marts.campaign_lift where metric = 'repurchase_rate' and window_days = 30",
    ).set_index("audience")
    win_back = lift.loc["win_back_high_value"]
    assert win_back["ci_low"] > 0, win_back
    nudge = lift.loc["first_repurchase_nudge"]
    assert nudge["ci_low"] <= 0 <= nudge["ci_high"], nudge
    # Weixi's own audiences entered tonight: no window has ended, so no verdict, only the status.
    judged = _query(
        warehouse, "select audience, status, verdict from marts.campaign_lift where is_primary"
    ).set_index("audience")
    imported = ["win_back_high_value", "first_repurchase_nudge"]
    assert judged.loc[imported, "verdict"].tolist() == ["works", "no_evidence"]
    tonight = judged.drop(index=imported)
    assert len(tonight) > 0 and (tonight["status"] == "window_incomplete").all(), tonight
    assert tonight["verdict"].isna().all()
