"""One night's syncs: every destination and audience, from the export input and the state.

Files (per channel and Parquet), ad audiences (hashed, with remove files) and the webhook share
one loop: take the diff against what the destination holds, deliver, keep what the
destination confirmed. The diff comes from the state table by key (:func:`night_changes`), and
the outcome holds only the state rows to insert and delete, so a night costs what changed, not
the millions of rows the destinations hold. Besides that comparison the caller reads and writes
the warehouse; this module writes files and talks HTTP only.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from activation.destinations.formats import (
    AD_FORMATS,
    FILE_FORMATS,
    AdFormat,
    FileFormat,
    ad_hashes,
    ad_members,
    file_rows,
    read_file,
    write_file,
)
from activation.destinations.members import MARKETING, SUPPRESSION_RULES, ExportMembers
from activation.destinations.sync import (
    ACTIVATION_SYNCS,
    ADD,
    KEY,
    REJECTIONS,
    REMOVE,
    SKIPPED,
    SUCCESS,
    SYNC_STATE,
    Diff,
    StateChanges,
    member_of,
    state_changes,
    status,
    with_keys,
)
from activation.destinations.webhook import WebhookClient

WEBHOOK = "webhook"
REMOVE_SUFFIX = ".remove"


@dataclass
class SyncOutcome:
    """What the night's syncs did: one row per sync, the state rows confirmed added and
    removed, rejections, files."""

    syncs: list[dict] = field(default_factory=list)
    added: list[pd.DataFrame] = field(default_factory=list)
    removed: list[pd.DataFrame] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    requests: int = 0

    def added_state(self) -> pd.DataFrame:
        """The new :data:`SYNC_STATE` rows: members the destinations confirmed adding."""
        frames = [f for f in self.added if len(f)]
        if not frames:
            return SYNC_STATE.empty_frame()
        return SYNC_STATE.conform(pd.concat(frames, ignore_index=True))

    def removed_state(self) -> pd.DataFrame:
        """The keys (destination, audience, customer_id) the destinations confirmed removing."""
        frames = [f[list(KEY)] for f in self.removed if len(f)]
        if not frames:
            return pd.DataFrame({k: pd.Series([], dtype=object) for k in KEY})
        return pd.concat(frames, ignore_index=True)

    def sync_frame(self) -> pd.DataFrame:
        return ACTIVATION_SYNCS.conform(pd.DataFrame(self.syncs))

    def rejection_frame(self) -> pd.DataFrame:
        return REJECTIONS.conform(pd.DataFrame(self.rejections))


@dataclass(frozen=True)
class NightInput:
    """The export input of one audience date and how it differs from what the destinations
    hold (:func:`night_changes`)."""

    export: ExportMembers
    audience_date: date
    changes: StateChanges
    rejected_keys: frozenset[str]
    exports_dir: Path


def night_changes(
    con: duckdb.DuckDBPyConnection, export: ExportMembers, webhook: bool = True
) -> StateChanges:
    """What every destination must add and remove tonight: ``export``'s rows each destination
    takes (its channel's members, marketing members with an ad identifier, all of them)
    against :data:`SYNC_STATE` on ``con`` (:func:`state_changes`); the webhook only when one is
    configured (``webhook``), since otherwise nothing is pushed and it keeps what it holds."""
    rows = export.rows
    tonight = pd.DataFrame(
        {
            "audience": rows["audience"].astype(object),
            "customer_id": rows["customer_id"].astype(object),
            "channel": rows["channel"].astype(object),
            "ad": rows.index.isin(ad_members(rows).index),
        }
    )
    wanted = {
        fmt.destination: "true" if fmt.channel is None else f"channel = '{fmt.channel}'"
        for fmt in FILE_FORMATS
    }
    wanted |= {ad.destination: "ad" for ad in AD_FORMATS}
    if webhook:
        wanted[WEBHOOK] = "true"
    return state_changes(con, tonight, wanted)


def run_syncs(night: NightInput, webhook: WebhookClient | None) -> SyncOutcome:
    """Sync every destination and audience for ``night``; ``webhook`` ``None`` when no endpoint
    is configured (its syncs are recorded as ``skipped`` and its state kept)."""
    outcome = SyncOutcome()
    rows = night.export.rows
    for fmt in FILE_FORMATS:
        current = rows if fmt.channel is None else rows[rows["channel"] == fmt.channel]
        for audience, members, change in _pairs(night, fmt.destination, current):
            _sync_file(night, fmt, audience, members, change, outcome)
    ads = ad_members(rows)
    unique = ads.drop_duplicates("customer_id")
    for ad in AD_FORMATS:
        hashes = _hashes_by_customer(ad, unique)  # once per customer, not per audience
        for audience, members, change in _pairs(night, ad.destination, ads):
            _sync_ads(night, ad, audience, members, hashes, change, outcome)
    for audience, members, change in _pairs(night, WEBHOOK, rows):
        _sync_webhook(night, webhook, audience, members, change, outcome)
    return outcome


def _pairs(night: NightInput, destination: str, current: pd.DataFrame):
    """(audience, its members tonight, their diff against the destination) for every audience
    with members tonight or held members no longer wanted."""
    now = dict(tuple(current.groupby("audience", sort=False)))
    for audience in sorted(set(now) | night.changes.audiences(destination)):
        members = now.get(audience, current.iloc[:0])
        change = night.changes.diff(destination, audience, members)
        # Keys only for who is added: the others' are in the state already.
        added = change.added.assign(idempotency_key=with_keys(change.added, night.audience_date))
        yield audience, members, Diff(added=added, removed=change.removed)


def _hashes_by_customer(ad: AdFormat, members: pd.DataFrame) -> pd.DataFrame:
    hashes = ad_hashes(ad, members)
    # Looked up by lists of plain ids per audience: an index of Arrow text is far slower there.
    return hashes.set_index(pd.Index(hashes["customer_id"], dtype=object)).drop(
        columns="customer_id"
    )


def _hashes_as_json(ad: AdFormat, hashes: pd.DataFrame) -> list[str]:
    """The hashes sent of each row, as the state keeps them; made for the added members only,
    since everyone else's are in the state already."""
    columns = [ad.email_column, ad.phone_column]
    return [
        json.dumps({k: v for k, v in zip(columns, pair, strict=True) if isinstance(v, str)})
        for pair in zip(hashes[columns[0]], hashes[columns[1]], strict=True)
    ]


def _suppressed(night: NightInput, audience: str, channel: str | None, kind: str | None) -> int:
    b = night.export.blocked
    mask = (b["audience"] == audience) & member_of(b["rule"], SUPPRESSION_RULES)
    if channel is not None:
        mask &= b["channel"] == channel
    if kind is not None:
        mask &= b["kind"] == kind
    return int(mask.sum())


def _record(
    night: NightInput,
    outcome: SyncOutcome,
    destination: str,
    audience: str,
    counts: dict[str, int],
    sync_status: str,
    message: str,
    started: float,
    started_at: datetime,
    sync_id: str,
) -> None:
    outcome.syncs.append(
        {
            "sync_id": sync_id,
            "audience_date": pd.Timestamp(night.audience_date),
            "audience": audience,
            "destination": destination,
            **counts,
            "duration_seconds": round(time.monotonic() - started, 6),
            "status": sync_status,
            "message": message,
            "started_at": started_at,
        }
    )


def _state_rows(
    destination: str, added: pd.DataFrame, synced_at: datetime, hashes: pd.Series | None = None
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "destination": destination,
            "audience": added["audience"].to_numpy(),
            "customer_id": added["customer_id"].to_numpy(),
            "idempotency_key": added["idempotency_key"].to_numpy(),
            "synced_at": synced_at,
        }
    )
    frame["hashed_identifiers"] = None if hashes is None else hashes.to_numpy()
    return frame


def _folder(night: NightInput, destination: str) -> Path:
    return night.exports_dir / night.audience_date.isoformat() / destination


def _sync_file(night, fmt: FileFormat, audience, members, change: Diff, outcome) -> None:
    started, started_at = time.monotonic(), datetime.now()
    path = _folder(night, fmt.destination) / f"{audience}.{fmt.suffix}"
    if len(members):
        write_file(file_rows(fmt, members), path)
        outcome.files.append(path)
    else:
        path.unlink(missing_ok=True)  # a re-run that now has nobody leaves no stale file
    outcome.added.append(_state_rows(fmt.destination, change.added, started_at))
    outcome.removed.append(change.removed)
    counts = _counts(
        len(change.added),
        len(change.removed),
        0,
        0,
        _suppressed(night, audience, fmt.channel, None),
    )
    _record(
        night,
        outcome,
        fmt.destination,
        audience,
        counts,
        SUCCESS,
        f"{len(members)} members in {path.name}" if len(members) else "no members",
        started,
        started_at,
        uuid.uuid4().hex,
    )


def _sync_ads(night, ad: AdFormat, audience, members, by_customer, change: Diff, outcome) -> None:
    started, started_at = time.monotonic(), datetime.now()
    folder = _folder(night, ad.destination)
    hashes = by_customer.loc[sorted(members["customer_id"])]
    columns = [ad.email_column, ad.phone_column]
    path = folder / f"{audience}.csv"
    if len(members):
        write_file(hashes[columns], path)
        outcome.files.append(path)
    else:
        path.unlink(missing_ok=True)
    removed = change.removed
    if len(removed):
        gone = pd.DataFrame([json.loads(h or "{}") for h in removed["hashed_identifiers"]])
        gone = gone.reindex(columns=columns)
        remove_path = folder / f"{audience}{REMOVE_SUFFIX}.csv"
        if remove_path.exists():  # a re-run of the day keeps what it removed before
            gone = pd.concat([read_file(remove_path).replace("", None), gone])
        gone = gone.drop_duplicates().sort_values(columns, na_position="last")
        write_file(gone, remove_path)
        outcome.files.append(remove_path)
    added_hashes = pd.Series(
        _hashes_as_json(ad, hashes.loc[change.added["customer_id"]]), dtype=object
    )
    outcome.added.append(_state_rows(ad.destination, change.added, started_at, added_hashes))
    outcome.removed.append(removed)
    counts = _counts(
        len(change.added), len(removed), 0, 0, _suppressed(night, audience, None, MARKETING)
    )
    _record(
        night,
        outcome,
        ad.destination,
        audience,
        counts,
        SUCCESS,
        f"{len(members)} hashed members, {len(removed)} to remove",
        started,
        started_at,
        uuid.uuid4().hex,
    )


def _sync_webhook(night, client, audience, members, change: Diff, outcome) -> None:
    started, started_at = time.monotonic(), datetime.now()
    sync_id = uuid.uuid4().hex
    suppressed = _suppressed(night, audience, None, None)
    if client is None:
        counts = _counts(0, 0, 0, 0, suppressed)
        _record(
            night,
            outcome,
            WEBHOOK,
            audience,
            counts,
            SKIPPED,
            "no webhook configured (WEIXI_WEBHOOK_URL)",
            started,
            started_at,
            sync_id,
        )
        return  # nothing sent, so the state of the webhook stays as it is
    adds = change.added[~member_of(change.added["idempotency_key"], night.rejected_keys)]
    removes = change.removed.assign(
        idempotency_key=with_keys(change.removed, night.audience_date, REMOVE)
    )
    added = client.push(audience, night.audience_date, ADD, [_add_body(r) for r in _records(adds)])
    removed = client.push(
        audience,
        night.audience_date,
        REMOVE,
        [
            {"idempotency_key": k, "customer_id": c}
            for k, c in zip(removes["idempotency_key"], removes["customer_id"], strict=True)
        ],
    )
    outcome.requests += added.requests + removed.requests
    for result, frame in ((added, adds), (removed, removes)):
        by_key = frame.set_index("idempotency_key")["customer_id"]
        for key, reason in result.rejected.items():
            outcome.rejections.append(
                {
                    "sync_id": sync_id,
                    "destination": WEBHOOK,
                    "audience": audience,
                    "customer_id": by_key[key],
                    "idempotency_key": key,
                    "reason": reason,
                    "rejected_at": started_at,
                }
            )
    confirmed = adds[member_of(adds["idempotency_key"], set(added.delivered))]
    outcome.added.append(_state_rows(WEBHOOK, confirmed, started_at))
    outcome.removed.append(removes[member_of(removes["idempotency_key"], set(removed.delivered))])
    failed = len(added.failed) + len(removed.failed)
    rejected = len(added.rejected) + len(removed.rejected)
    sent = len(added.delivered) + len(removed.delivered)
    counts = _counts(len(added.delivered), len(removed.delivered), failed, rejected, suppressed)
    errors = sorted(set(added.failed.values()) | set(removed.failed.values()))
    message = f"{added.requests + removed.requests} requests" + (f"; {errors[0]}" if errors else "")
    _record(
        night,
        outcome,
        WEBHOOK,
        audience,
        counts,
        status(sent, failed, rejected),
        message,
        started,
        started_at,
        sync_id,
    )


def _counts(added: int, removed: int, failed: int, rejected: int, suppressed: int) -> dict:
    return {
        "added": added,
        "removed": removed,
        "failed": failed,
        "rejected": rejected,
        "suppressed_at_export": suppressed,
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def _add_body(row: dict) -> dict:
    payload = row["payload"]
    return {
        "idempotency_key": row["idempotency_key"],
        "customer_id": row["customer_id"],
        "kind": row["kind"],
        "channel": row["channel"],
        "address": row["address"],
        "name": row["name"] if isinstance(row["name"], str) else None,
        "template_key": row["template_key"],
        "is_new_entry": bool(row["is_new_entry"]),
        "payload": json.loads(payload) if isinstance(payload, str) and payload else {},
    }
