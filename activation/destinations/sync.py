"""Diff-based sync: what each destination must add and remove, and what it holds afterwards.

``activation.sync_state`` holds, per destination and audience, the members the destination
had after its last successful sync. Tonight's members minus the state are added, the state
minus tonight's members (including forgotten customers) are removed. Only what the destination
confirmed goes into the new state, so a failed batch is retried by the next run and a re-run
of a day that succeeded sends nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa

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


HELD = "_tonight"
"""Tonight's export rows, registered on the connection by :func:`state_changes`."""
KEY = ("destination", "audience", "customer_id")


@dataclass(frozen=True)
class StateChanges:
    """How tonight's members differ from what the destinations hold: per (destination,
    audience), the customer ids not held yet (``added``) and the state rows no longer wanted
    (``removed``, every column of :data:`SYNC_STATE`); ``held``, every (destination, audience)
    the state holds members of."""

    added: dict[tuple[str, str], pd.Series]
    removed: dict[tuple[str, str], pd.DataFrame]
    held: frozenset[tuple[str, str]]

    @classmethod
    def from_frames(
        cls, added: pd.DataFrame, removed: pd.DataFrame, held: pd.DataFrame
    ) -> StateChanges:
        """Grouped once, so each sync looks up its own part."""
        return cls(
            added={k: g["customer_id"] for k, g in added.groupby(["destination", "audience"])},
            removed={k: g for k, g in removed.groupby(["destination", "audience"])},
            held=frozenset(zip(held["destination"], held["audience"], strict=True)),
        )

    def diff(self, destination: str, audience: str, members: pd.DataFrame) -> Diff:
        """The :class:`Diff` of one destination and audience, ``members`` its rows tonight."""
        ids = self.added.get((destination, audience))
        added = members.iloc[:0] if ids is None else members[member_of(members["customer_id"], ids)]
        removed = self.removed.get((destination, audience), SYNC_STATE.empty_frame())
        return Diff(added=added, removed=removed)

    def audiences(self, destination: str) -> set[str]:
        """The audiences the destination holds members of."""
        return {audience for d, audience in self.held if d == destination}


def state_changes(
    con: duckdb.DuckDBPyConnection, members: pd.DataFrame, wanted: Mapping[str, str]
) -> StateChanges:
    """Compare what each destination should hold tonight with :data:`SYNC_STATE`, by key in
    DuckDB: only the differences come back, so the cost follows what changed, not the millions
    of rows held.

    ``members``: tonight's export rows (``audience``, ``customer_id`` and the columns the
    predicates read); ``wanted``: per destination synced tonight, the SQL predicate over those
    rows that says which of them it should hold. A destination not in ``wanted`` is not
    compared: it keeps what it holds.
    """
    con.register(HELD, pa.Table.from_pandas(members, preserve_index=False))
    try:
        tonight = " union all ".join(
            f"select '{destination}' as destination, audience, customer_id from {HELD} "
            f"where {predicate}"
            for destination, predicate in wanted.items()
        )
        key = ", ".join(KEY)
        held_columns = ", ".join(f"s.{c}" for c in SYNC_STATE.column_names if c not in KEY)
        # One full join gives both sides of the difference: one pass over the state, not two.
        changes = con.execute(
            f"with tonight as ({tonight}) "
            f"select {key}, t.is_wanted is not null as is_wanted, {held_columns} "
            "from (select *, true as is_wanted from tonight) t "
            f"full join (select *, true as is_held from {SYNC_STATE.name} "
            f"where list_contains($synced, destination)) s using ({key}) "
            "where t.is_wanted is null or s.is_held is null",
            {"synced": list(wanted)},
        ).df()
        wanted_rows = changes["is_wanted"].to_numpy(dtype=bool)
        added = changes.loc[wanted_rows, list(KEY)].reset_index(drop=True)
        removed = changes.loc[~wanted_rows, list(SYNC_STATE.column_names)].reset_index(drop=True)
        held = con.execute(f"select distinct destination, audience from {SYNC_STATE.name}").df()
    finally:
        con.unregister(HELD)
    return StateChanges.from_frames(
        added.astype(dict.fromkeys(KEY, object)),
        SYNC_STATE.conform(removed).astype(dict.fromkeys(KEY, object)),
        held,
    )


def update_state(
    con: duckdb.DuckDBPyConnection, added: pd.DataFrame, removed: pd.DataFrame
) -> None:
    """Apply one night's syncs to :data:`SYNC_STATE` inside the caller's transaction: delete the
    ``removed`` keys, insert the confirmed ``added`` rows. Rows nobody touched stay as they are."""
    keys = list(KEY)
    if len(removed):
        con.register("_removed", removed[keys].astype(object))
        match = " and ".join(f"{SYNC_STATE.name}.{k} = _removed.{k}" for k in keys)
        con.execute(f"delete from {SYNC_STATE.name} using _removed where {match}")
        con.unregister("_removed")
    if len(added):
        con.register("_added", SYNC_STATE.conform(added))
        con.execute(f"insert into {SYNC_STATE.name} by name select * from _added")
        con.unregister("_added")


def status(sent: int, failed: int, rejected: int) -> str:
    """``success`` when nothing failed or was rejected, ``failed`` when nothing got through
    while something failed, else ``partial``."""
    if failed == 0 and rejected == 0:
        return SUCCESS
    if sent == 0 and failed > 0:
        return FAILED
    return PARTIAL
