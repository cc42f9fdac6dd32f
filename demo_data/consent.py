"""Planted consent trouble: stale CRM re-imports after opt-outs, and right-to-be-forgotten
requests, with their ground truth.

A re-import is a CRM backup restored after the customer opted out: it re-delivers the
customer's row as it was just before the opt-out (consents true, ``marketing_opt_out`` false)
with the time of the import as ``updated_at``, so it becomes the latest CRM row. Weixi must keep
the customer suppressed all the same.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .customers import customer_ids
from .seasons import SECONDS_PER_DAY, Window
from .writer import ERASURE_FOLDER

REIMPORT_SHARE = 0.3
"""Share of the customers who opted out (of marketing or of a channel) whose opt-out a later
stale re-import contradicts."""
ERASURE_SHARE = 0.002
MIN_ERASURES = 2
ERASURE_FILE = "demo_erasure_requests.csv"
CHANNELS = ("email", "sms", "wechat", "phone")
_SEED_SALT = 0xC0


def plant_consent(
    seed: int,
    customers: pa.Table,
    buyers: np.ndarray,
    business: np.ndarray,
    window: Window,
) -> tuple[pa.Table, pa.Table, list[dict[str, str]]]:
    """The CRM customer deliveries with stale re-imports added, the truth (``consent``
    table: customer, what was planted, channel, opt-out and planted times) and the erasure
    requests (rows of the demo request file).

    ``buyers`` are the population indexes of CRM customers with an order, ``business`` flags
    business accounts; erasure requests go to buyers (one business account when there is
    one), so that erasing them has orders, tickets and contacts to unlink."""
    # Its own stream, so that planting changes no other generated value.
    rng = np.random.default_rng([seed, _SEED_SALT])
    n = len(business)
    erased = _erasure_choice(rng, np.unique(buyers), business, n)
    events = _opt_out_events(customers)
    events = events[~events["person"].isin(erased)]
    chosen = events[rng.random(len(events)) < REIMPORT_SHARE]
    opted_out = chosen["second"].to_numpy() - window.epoch_second

    last_second = customers["updated_at"].cast(pa.int64()).to_numpy() - window.epoch_second
    latest = pd.Series(last_second).groupby(_persons(customers)).max()
    start = np.maximum(latest.reindex(chosen["person"]).to_numpy(), opted_out)
    reimport = start + rng.integers(SECONDS_PER_DAY, 30 * SECONDS_PER_DAY, len(chosen))
    keep = reimport < window.end_second
    chosen, reimport, opted_out = chosen[keep], reimport[keep], opted_out[keep]

    stale = customers.take(pa.array(chosen["before_row"].to_numpy(), pa.int64()))
    stale = stale.set_column(
        stale.schema.get_field_index("updated_at"),
        "updated_at",
        pa.array(reimport + window.epoch_second, pa.timestamp("s")),
    ).set_column(
        stale.schema.get_field_index("_day"), "_day", pa.array(reimport // SECONDS_PER_DAY)
    )
    planted = pa.concat_tables([customers, stale.cast(customers.schema)])

    request_second = (window.days - 2) * SECONDS_PER_DAY + 10 * 3600 + np.arange(len(erased))
    requests = [
        {
            "customer_id": cid,
            "requested_at": str(pd.Timestamp(int(s + window.epoch_second), unit="s")),
            "reason": "customer request via the service hotline",
        }
        for cid, s in zip(customer_ids(erased, n).to_pylist(), request_second, strict=True)
    ]
    truth = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customer_ids(chosen["person"].to_numpy(), n).to_pylist(),
                    "planted": "reimport_after_" + chosen["reason"],
                    "channel": chosen["channel"].to_numpy(),
                    "opted_out_at": _times(opted_out, window),
                    "planted_at": _times(reimport, window),
                }
            ),
            pd.DataFrame(
                {
                    "customer_id": [r["customer_id"] for r in requests],
                    "planted": "erasure",
                    "channel": "all",
                    "opted_out_at": pd.NaT,
                    "planted_at": _times(request_second, window),
                }
            ),
        ],
        ignore_index=True,
    )
    return planted, pa.Table.from_pandas(truth, preserve_index=False), requests


def _persons(customers: pa.Table) -> np.ndarray:
    """Population index of each CRM row (ids are ``C`` + the zero-padded index)."""
    return np.array([int(c[1:]) - 1 for c in customers["customer_id"].to_pylist()], np.int64)


def _erasure_choice(
    rng: np.random.Generator, buyers: np.ndarray, business: np.ndarray, n: int
) -> np.ndarray:
    count = min(len(buyers), max(MIN_ERASURES, round(n * ERASURE_SHARE)))
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    accounts = buyers[business[buyers]]
    first = rng.choice(accounts, 1) if len(accounts) else np.zeros(0, dtype=np.int64)
    rest = rng.permutation(np.setdiff1d(buyers, first))[: count - len(first)]
    return np.sort(np.concatenate([first, rest]))


def _opt_out_events(customers: pa.Table) -> pd.DataFrame:
    """Per customer, the first marketing opt-out or channel withdrawal (true to false) that
    has an earlier CRM row: person, reason, channel, second and the row before it."""
    frame = pd.DataFrame(
        {
            "person": _persons(customers),
            "second": customers["updated_at"].cast(pa.int64()).to_numpy(),
            "opt_out": customers["marketing_opt_out"].to_numpy(zero_copy_only=False),
            **{
                c: customers[f"{c}_consent"].to_numpy(zero_copy_only=False).astype(bool)
                for c in CHANNELS
            },
        }
    )
    frame["row"] = np.arange(len(frame))
    frame = frame.sort_values(["person", "second", "row"])
    before = frame.groupby("person").shift(1)
    has_before = before["row"].notna()
    marketing = frame["opt_out"].astype(bool) & ~before["opt_out"].astype(bool) & has_before
    withdrawn = np.column_stack([before[c].astype(bool) & ~frame[c] & has_before for c in CHANNELS])
    reason = np.where(marketing, "marketing_opt_out", "channel_opt_out")
    channel = np.where(marketing, "all", np.array(CHANNELS)[np.argmax(withdrawn, axis=1)])
    events = frame.assign(
        reason=reason,
        channel=channel,
        before_row=before["row"].fillna(-1).astype(np.int64),
    )[marketing.to_numpy() | withdrawn.any(axis=1)]
    events = events.drop_duplicates("person")
    return events[["person", "reason", "channel", "second", "before_row"]].reset_index(drop=True)


def _times(seconds: np.ndarray, window: Window) -> pd.Series:
    return pd.to_datetime(np.asarray(seconds, dtype=np.int64) + window.epoch_second, unit="s")


def write_erasure_requests(out: Path, requests: list[dict[str, str]]) -> None:
    """Write the demo erasure requests as ``<out>/_erasure_requests/demo_erasure_requests.csv``
    (the format ``weixi forget`` appends to)."""
    folder = out / ERASURE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ERASURE_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["customer_id", "requested_at", "reason"])
        writer.writeheader()
        writer.writerows(requests)
