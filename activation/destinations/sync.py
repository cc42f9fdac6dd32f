"""Diff-based sync: what each destination must add and remove, and what it holds afterwards.

``activation.sync_state`` holds, per destination and audience, the members the destination
had after its last successful sync. Tonight's members minus the state are added, the state
minus tonight's members (including forgotten customers) are removed. Only what the destination
confirmed goes into the new state, so a failed batch is retried by the next run and a re-run
of a day that succeeded sends nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from warehouse.table_spec import SpecColumn, TableSpec

ADD = "add"
REMOVE = "remove"
SUCCESS = "success"
PARTIAL = "partial"
FAILED = "failed"
SKIPPED = "skipped"

SYNC_STATE = TableSpec(
    name="activation.sync_state",
    description="The members each destination held after its last successful sync: tonight's "
    "members minus these are added, these minus tonight's members removed (see "
    "docs/destinations.md).",
    grain="One row per destination, audience and customer held",
    key=("destination", "audience", "customer_id"),
    columns=(
        SpecColumn("destination", "string", "The destination, e.g. `csv`, `webhook`."),
        SpecColumn("audience", "string", "The audience."),
        SpecColumn("customer_id", "string", "The member the destination holds."),
        SpecColumn("idempotency_key", "string", "The key of the add that put them there."),
        SpecColumn("synced_at", "timestamp", "When the destination confirmed it."),
        SpecColumn(
            "hashed_identifiers",
            "string",
            "Ad destinations: the hashes sent, as JSON (to remove them on erasure).",
        ),
    ),
)
ACTIVATION_SYNCS = TableSpec(
    name="marts.activation_syncs",
    description="Every delivery of the night's audiences to marketing tools (files, ad "
    "audiences, webhook): who was added and removed, who failed or was refused, and who was "
    "held back at export.",
    grain="One row per sync (destination, audience and run)",
    key=("sync_id",),
    columns=(
        SpecColumn("sync_id", "string", "The sync."),
        SpecColumn("audience_date", "date", "The audience date synced."),
        SpecColumn("audience", "string", "The audience."),
        SpecColumn("destination", "string", "The destination."),
        SpecColumn("added", "int64", "Members added."),
        SpecColumn("removed", "int64", "Members removed."),
        SpecColumn("failed", "int64", "Members whose delivery failed (retried next run)."),
        SpecColumn("rejected", "int64", "Members the destination refused."),
        SpecColumn(
            "suppressed_at_export",
            "int64",
            "Members dropped at export by consent or erasure rules.",
        ),
        SpecColumn("duration_seconds", "float64", "How long the sync took."),
        SpecColumn(
            "status",
            "string",
            "`success`, `partial` (some failed or were refused), `failed` (nothing got "
            "through) or `skipped`.",
        ),
        SpecColumn("message", "string", "What went wrong, when something did."),
        SpecColumn("started_at", "timestamp", "When the sync started."),
    ),
)
REJECTIONS = TableSpec(
    name="activation.rejections",
    description="Members a destination refused (an invalid address, say), so they are not "
    "sent again.",
    grain="One row per refused member and sync",
    key=("sync_id", "idempotency_key"),
    columns=(
        SpecColumn("sync_id", "string", "The sync that was refused."),
        SpecColumn("destination", "string", "The destination."),
        SpecColumn("audience", "string", "The audience."),
        SpecColumn("customer_id", "string", "The refused member."),
        SpecColumn("idempotency_key", "string", "The key of the refused operation."),
        SpecColumn("reason", "string", "The destination's reason."),
        SpecColumn("rejected_at", "timestamp", "When it was refused."),
    ),
)


def idempotency_key(customer_id: str, audience: str, audience_date: date, op: str = ADD) -> str:
    """The key of one member's operation: the same customer, audience, day and operation always
    give the same key, so an endpoint can drop a repeat."""
    text = f"{op}\x1f{customer_id}\x1f{audience}\x1f{audience_date.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def with_keys(members: pd.DataFrame, audience_date: date, op: str = ADD) -> pd.Series:
    """:func:`idempotency_key` for every row of ``members`` (``customer_id``, ``audience``)."""
    keys = [
        idempotency_key(c, a, audience_date, op)
        for c, a in zip(members["customer_id"], members["audience"], strict=True)
    ]
    return pd.Series(keys, index=members.index, dtype=object)


@dataclass(frozen=True)
class Diff:
    """Rows of tonight's members to add and rows of the state to remove."""

    added: pd.DataFrame
    removed: pd.DataFrame


def member_of(values: pd.Series, of: object) -> pd.Series:
    """``values.isin(of)`` on plain Python strings (pandas' Arrow strings test membership one
    element at a time, 20 times slower)."""
    return values.astype(object).isin(pd.Series(list(of), dtype=object))


def diff(current: pd.DataFrame, state: pd.DataFrame) -> Diff:
    """Members in ``current`` and not in ``state`` (added), in ``state`` and not in ``current``
    (removed); both frames of one destination and audience, keyed by ``customer_id``."""
    return Diff(
        added=current[~member_of(current["customer_id"], state["customer_id"])],
        removed=state[~member_of(state["customer_id"], current["customer_id"])],
    )


def next_state(
    state: pd.DataFrame, added: pd.DataFrame, removed_ids: set[str], synced_at: datetime
) -> pd.DataFrame:
    """The state after a sync: ``removed_ids`` gone, the confirmed ``added`` rows (with
    ``destination``, ``audience``, ``customer_id``, ``idempotency_key`` and optional
    ``hashed_identifiers``) in."""
    kept = state[~member_of(state["customer_id"], removed_ids)]
    new = added.assign(synced_at=synced_at)
    frames = [f for f in (kept, new) if len(f)]
    if not frames:
        return SYNC_STATE.empty_frame()
    columns = list(SYNC_STATE.column_names)
    out = pd.concat([f.reindex(columns=columns) for f in frames], ignore_index=True)
    return SYNC_STATE.conform(out).sort_values(["customer_id"]).reset_index(drop=True)


def status(sent: int, failed: int, rejected: int) -> str:
    """``success`` when nothing failed or was rejected, ``failed`` when nothing got through
    while something failed, else ``partial``."""
    if failed == 0 and rejected == 0:
        return SUCCESS
    if sent == 0 and failed > 0:
        return FAILED
    return PARTIAL
