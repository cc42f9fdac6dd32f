"""How long the destinations take: the export input, files and hashed ad audiences for a
million members, and a webhook push of a hundred thousand members to a local server.

    python benchmarks/bench_activation.py --members 1000000 --push 100000

Synthetic members: ``--members`` rows over 10 marketing and service audiences and
``--members / 2`` CRM customers (e-mail, a phone in one of the CRM's styles, a WeChat handle,
consents, 1% marketing opt-outs, a ledger of 1% channel opt-outs and 0.1% erasures). Prints
wall-clock seconds for: the export input (consent applied again, identifiers normalised), every
file and ad audience of the night written (``run_syncs`` without a webhook, first sync: every
member added), hashing alone, and the push of ``--push`` members in batches of
``--batch-size`` to a local ``ThreadingHTTPServer`` (tests/support/webhook_server.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activation.destinations.delivery import NightInput, night_changes, run_syncs  # noqa: E402
from activation.destinations.formats import GOOGLE_ADS, META_ADS, ad_hashes, ad_members  # noqa: E402
from activation.destinations.members import export_members  # noqa: E402
from activation.destinations.sync import SYNC_STATE, update_state, with_keys  # noqa: E402
from activation.destinations.webhook import WebhookClient, WebhookConfig  # noqa: E402
from activation.holdout import holdout_groups  # noqa: E402
from tests.support.webhook_server import WebhookServer  # noqa: E402

DAY = date(2025, 12, 30)
AUDIENCES = [
    (f"audience_{i}", "service" if i == 9 else "marketing", ("email", "sms", "wechat")[i % 3])
    for i in range(10)
]
PHONE_STYLES = ("138{0}", "138-{1}-{2}", "+86 138-{1}-{2}", "0086 138{0}", "138 {1} {2}")


def synthetic(members: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Audience members, CRM rows and a suppression ledger."""
    rng = np.random.default_rng(seed)
    customers = max(members // 2, 1)
    ids = np.array([f"C{i:08d}" for i in range(customers)], dtype=object)
    digits = [f"{i % 10**8:08d}" for i in range(customers)]
    crm = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_name": [f"客户{i}" for i in range(customers)],
            "email": [f" User.{i}@Example.com" for i in range(customers)],
            "phone": [PHONE_STYLES[i % 5].format(d, d[:4], d[4:]) for i, d in enumerate(digits)],
            "social_handles": [f"weibo:w{i};wechat:wx{i}" for i in range(customers)],
            "email_consent": rng.random(customers) < 0.9,
            "sms_consent": rng.random(customers) < 0.9,
            "wechat_consent": rng.random(customers) < 0.9,
            "phone_consent": rng.random(customers) < 0.5,
            "marketing_opt_out": rng.random(customers) < 0.01,
        }
    )
    which = rng.integers(0, len(AUDIENCES), members)
    who = rng.integers(0, customers, members)
    frame = pd.DataFrame(
        {
            "audience_date": DAY,
            "audience": [AUDIENCES[a][0] for a in which],
            "kind": [AUDIENCES[a][1] for a in which],
            "customer_id": ids[who],
            "channel": [AUDIENCES[a][2] for a in which],
            "priority": 50,
            "template_key": "template",
            "is_new_entry": True,
            "reason": "synthetic",
            "payload": json.dumps({"recommended_product": "P1", "coupon": 20}),
        }
    ).drop_duplicates(["audience", "customer_id"])
    frame["holdout_group"] = holdout_groups(frame["audience"], frame["customer_id"], 0.1)
    opted = ids[rng.random(customers) < 0.01]
    erased = ids[rng.random(customers) < 0.001]
    ledger = pd.DataFrame(
        {
            "customer_id": np.concatenate([opted, erased]),
            "channel": ["sms"] * len(opted) + ["all"] * len(erased),
            "reason": ["channel_opt_out"] * len(opted) + ["erasure"] * len(erased),
        }
    )
    return frame.reset_index(drop=True), crm, ledger


def timed(label: str, fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    print(f"{label:<58} {time.perf_counter() - start:8.2f} s", flush=True)
    return out


def bench_export(members: int) -> None:
    frame, crm, ledger = synthetic(members)
    print(f"\n{len(frame):,} members ({len(crm):,} CRM customers, {len(ledger):,} ledger rows)")
    export = timed(
        "export input (consent again, identifiers normalised)", export_members, frame, crm, ledger
    )
    print(f"  exportable {len(export.rows):,}, dropped {len(export.blocked):,}")
    ads = ad_members(export.rows)
    for fmt in (GOOGLE_ADS, META_ADS):
        timed(f"hash {len(ads):,} ad members for {fmt.destination}", ad_hashes, fmt, ads)
    with tempfile.TemporaryDirectory() as folder, duckdb.connect() as con:
        SYNC_STATE.create(con)
        changes = timed(
            "state changes, first sync (night_changes)", night_changes, con, export, False
        )
        night = NightInput(export, DAY, changes, frozenset(), Path(folder))
        outcome = timed(
            "every file and ad audience, first sync (run_syncs)", run_syncs, night, None
        )
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        added = outcome.added_state()
        timed("state written", update_state, con, added, outcome.removed_state())
        print(f"  {len(outcome.files)} files, {size / 1e6:,.1f} MB, {len(added):,} state rows")
        changes = timed("state changes, re-run", night_changes, con, export, False)
        night = NightInput(export, DAY, changes, frozenset(), Path(folder))
        timed("re-run of the day (nothing added)", run_syncs, night, None)


def bench_push(members: int, batch_size: int) -> None:
    frame = pd.DataFrame(
        {"customer_id": [f"C{i:08d}" for i in range(members)], "audience": "welcome"}
    )
    keys = with_keys(frame, DAY)
    body = [
        {
            "idempotency_key": k,
            "customer_id": c,
            "channel": "email",
            "address": f"user.{i}@example.com",
            "template_key": "welcome",
            "payload": {"coupon": 20},
        }
        for i, (k, c) in enumerate(zip(keys, frame["customer_id"], strict=True))
    ]
    with WebhookServer() as server:
        client = WebhookClient(WebhookConfig(url=server.url, token="t", batch_size=batch_size))
        start = time.perf_counter()
        result = client.push("welcome", DAY, "add", body)
        seconds = time.perf_counter() - start
    print(
        f"\npush {members:,} members in batches of {batch_size}: {result.requests} requests, "
        f"{seconds:.2f} s, {members / seconds:,.0f} members/s, "
        f"{len(result.delivered):,} delivered, {len(server.members):,} stored"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--push", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    for n in args.members:
        bench_export(n)
    bench_push(args.push, args.batch_size)


if __name__ == "__main__":
    main()
