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

ADD = "add"
REMOVE = "remove"
SUCCESS = "success"
PARTIAL = "partial"
FAILED = "failed"
SKIPPED = "skipped"

STATE_COLUMNS = {
    "destination": "string",
    "audience": "string",
    "customer_id": "string",
    "idempotency_key": "string",
    "synced_at": "datetime64[us]",
    "hashed_identifiers": "string",
}
SYNC_COLUMNS = {
    "sync_id": "string",
    "audience_date": "datetime64[s]",
    "audience": "string",
    "destination": "string",
    "added": "int64",
    "removed": "int64",
    "failed": "int64",
    "rejected": "int64",
    "suppressed_at_export": "int64",
    "duration_seconds": "float64",
    "status": "string",
    "message": "string",
    "started_at": "datetime64[us]",
}
REJECTION_COLUMNS = {
    "sync_id": "string",
    "destination": "string",
    "audience": "string",
    "customer_id": "string",
    "idempotency_key": "string",
    "reason": "string",
    "rejected_at": "datetime64[us]",
}


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
        return empty(STATE_COLUMNS)
    out = pd.concat([f.reindex(columns=list(STATE_COLUMNS)) for f in frames], ignore_index=True)
    return out.astype(STATE_COLUMNS).sort_values(["customer_id"]).reset_index(drop=True)


def status(sent: int, failed: int, rejected: int) -> str:
    """``success`` when nothing failed or was rejected, ``failed`` when nothing got through
    while something failed, else ``partial``."""
    if failed == 0 and rejected == 0:
        return SUCCESS
    if sent == 0 and failed > 0:
        return FAILED
    return PARTIAL


def empty(columns: dict[str, str]) -> pd.DataFrame:
    """A frame with ``columns`` and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
