"""The Dagster instance that `weixi` commands and `make dev` share, so that runs started from the
command line show in the UI. Its configuration keeps one run, and one warehouse writer, at a
time within the instance; the writer lock (`orchestration.warehouse_lock`) keeps one writer per
warehouse across instances and processes, throw-away command-line instances included."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

import dagster as dg
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
    PIPELINE_EVENTS,
    DagsterEventType,
)
from dagster._core.storage.event_log.base import EventLogCursor
from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.event_log.schema import AssetEventTagsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster_shared.serdes import deserialize_value
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from orchestration.settings import WeixiSettings

T = TypeVar("T")

INSTANCE_YAML = """\
# Written by weixi; edits are overwritten.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""


def prepare_dagster_home(settings: WeixiSettings) -> str:
    """Create the Dagster home folder with Weixi's instance configuration; return its path."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != INSTANCE_YAML:
        config.write_text(INSTANCE_YAML)
    return str(home)


def weixi_instance(settings: WeixiSettings) -> dg.DagsterInstance:
    """The persistent Dagster instance in ``settings.dagster_home``."""
    return dg.DagsterInstance.from_config(prepare_dagster_home(settings))


NOT_COPIED = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    }
)
"""Events a finished run does not need: what was planned shows in what happened. A ranged run
plans every asset, check and day (half the events of a two-year run), and a check planned
over a range leaves a "planned" row per day that its one evaluation never clears."""


class _RunEventLog(InMemoryEventLogStorage):
    """The event log of :func:`throwaway_instance`: Dagster's in-memory one without the costs a
    run pays per event there and that nothing reads before :func:`copy_runs`.

    Dagster's opens a new connection and sets two pragmas for every write, asks the database
    for the asset table's columns and whether a table exists for every asset event, and stores
    every "planned" event; a check planned over a two-year range stores one row per day, each
    with the whole range serialised. A two-year run at any size spent about 50 CPU-s there, as
    much as the copy afterwards. Here the writes share one connection, the schema is asked
    once, and :data:`NOT_COPIED` events reach the listeners but not the tables.

    And an asset's row (its latest materialisation, serialised once more) is written before
    the next read, not for every event: a ranged step stores one event per day and asset, and
    only the asset's first and last of each kind change the row (:func:`_asset_row_writes`)."""

    def __init__(self) -> None:
        super().__init__()
        with self._held_conn.begin():
            self._held_conn.execute(text("PRAGMA foreign_keys=ON;")).close()
        self._known_tables: dict[str, bool] = {}
        self._asset_key_index_cols: bool | None = None
        self._storing = False
        self._unwritten: list[tuple[str, str, tuple[dg.EventLogEntry, int]]] = []

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._db_lock, self._held_conn.begin():
            if self._unwritten and not self._storing:
                for event, event_id in _asset_row_writes(self._unwritten):
                    super()._store_asset_event(self._held_conn, event, event_id)
                self._unwritten.clear()
            yield self._held_conn

    def _store_asset_event(self, conn: Connection, event: dg.EventLogEntry, event_id: int) -> None:
        dagster_event = event.get_dagster_event()
        if dagster_event.asset_key is not None:
            asset = dagster_event.asset_key.to_string()
            self._unwritten.append((asset, dagster_event.event_type_value, (event, event_id)))

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._known_tables:
            self._known_tables[table_name] = super().has_table(table_name)
        return self._known_tables[table_name]

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        if self._asset_key_index_cols is None:
            self._asset_key_index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._asset_key_index_cols

    def store_event(self, event: dg.EventLogEntry) -> None:
        # Dagster's in-memory store_event: the SQL event log's, then the listeners, which may
        # read the log (so after the asset rows can be written).
        if event.dagster_event_type not in NOT_COPIED:
            self._storing = True
            try:
                SqlEventLogStorage.store_event(self, event)
            finally:
                self._storing = False
            self._storage_id += 1
        for handler in list(self._handlers[event.run_id]):
            try:
                handler(event, str(EventLogCursor.from_storage_id(self._storage_id)))
            except Exception:
                logging.exception("Exception in callback for event watch on run %s.", event.run_id)


def throwaway_instance() -> dg.DagsterInstance:
    """An in-memory instance to run on before :func:`copy_runs` (as Dagster's ephemeral one,
    with the event log of :class:`_RunEventLog`)."""
    from dagster._core.instance import InstanceType
    from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import TemporaryLocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    return dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=_RunEventLog(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )


def copy_runs(source: dg.DagsterInstance, target: dg.DagsterInstance) -> None:
    """Copy every run of ``source`` (a throw-away instance) into ``target``: their records,
    their job and plan snapshots and their events (but :data:`NOT_COPIED`), so the UI of
    ``target`` shows the runs with their logs, every asset's materialisations and every check's
    evaluations, as if they had run there.

    Running on a throw-away instance and copying afterwards spares the run Dagster's
    bookkeeping while it works (a ranged run writes to the instance after every step and
    partition). The events are copied as the rows ``source`` stored (:func:`_copy_event_rows`):
    ``target`` is Weixi's SQLite instance (see ``INSTANCE_YAML``)."""
    stored, storage = source.event_log_storage, target.event_log_storage
    if not isinstance(stored, SqlEventLogStorage) or not isinstance(storage, SqliteEventLogStorage):
        raise TypeError(
            "copy_runs copies a SQL event log into a SQLite one (Weixi's instance), not "
            f"{type(stored).__name__} into {type(storage).__name__}"
        )
    for record in sorted(source.get_run_records(), key=lambda r: r.create_timestamp):
        run = record.dagster_run
        run_id = run.run_id
        if target.has_run(run_id):
            continue
        for snapshot_id, snapshot in (
            (run.job_snapshot_id, source.get_job_snapshot),
            (run.execution_plan_snapshot_id, source.get_execution_plan_snapshot),
        ):
            if snapshot_id and not target.has_snapshot(snapshot_id):
                target.add_snapshot(snapshot(snapshot_id))
        job_events = _copy_event_rows(stored, storage, run_id)
        target.run_storage.add_historical_run(run, record.create_timestamp)
        for entry in job_events:
            target.run_storage.handle_run_event(
                run_id, entry.get_dagster_event(), datetime.fromtimestamp(entry.timestamp, UTC)
            )


_SKIPPED = frozenset(kind.value for kind in NOT_COPIED)
_ASSET_EVENTS = frozenset(kind.value for kind in ASSET_EVENTS)
_CHECK_EVENTS = frozenset(kind.value for kind in ASSET_CHECK_EVENTS)
_JOB_EVENTS = frozenset(kind.value for kind in PIPELINE_EVENTS)
_INDEXED = frozenset(
    kind.value for kind in (*ASSET_EVENTS, *ASSET_CHECK_EVENTS, *EVENT_TYPE_TO_PIPELINE_RUN_STATUS)
)
"""The events Dagster's SQLite event log also writes to its cross-run index database."""


def _copy_event_rows(
    source: SqlEventLogStorage, target: SqliteEventLogStorage, run_id: str
) -> list[dg.EventLogEntry]:
    """Write the events of ``run_id`` in ``source`` to ``target`` as ``target.store_event``
    would, one after the other, but from the rows ``source`` stored; returns the run's job
    events (start, success, failure...).

    Dagster stores an event by serialising it again, and an asset event twice more (the
    asset's latest materialisation, its tags), each in a transaction of its own: 1.3 ms per
    event, 10 s for the 8,000 events of a two-year run, whatever the data's size. Here the
    rows (serialised events, tags) are copied as stored, in one transaction per database file,
    and only the events that change more than their own rows are read back: each asset's first
    event and last of each kind (what the asset's row keeps), the check evaluations and the
    job events. The tables come out as ``store_event`` writes them
    (``tests/assets/test_instance_copy.py`` compares them)."""
    events, tags = SqlEventLogStorageTable, AssetEventTagsTable
    with source.run_connection(run_id) as conn:
        rows = [
            dict(row)
            for row in conn.execute(
                select(events).where(events.c.run_id == run_id).order_by(events.c.id)
            ).mappings()
            if row["dagster_event_type"] not in _SKIPPED
        ]
        tag_rows = [
            dict(row)
            for row in conn.execute(
                select(tags)
                .join(events, events.c.id == tags.c.event_id)
                .where(events.c.run_id == run_id)
                .order_by(tags.c.id)
            ).mappings()
        ]
    with target.run_connection(run_id) as conn:
        if rows:
            conn.execute(events.insert(), [_without_id(row) for row in rows])
    indexed = [row for row in rows if row["dagster_event_type"] in _INDEXED]
    asset_rows = _asset_row_writes(
        [
            (row["asset_key"], row["dagster_event_type"], row)
            for row in indexed
            if row["dagster_event_type"] in _ASSET_EVENTS and row["asset_key"]
        ]
    )
    with _index_held(target) as conn:
        index_ids = {}
        if indexed:
            inserted = conn.execute(
                events.insert().returning(events.c.id, sort_by_parameter_order=True),
                [_without_id(row) for row in indexed],
            )
            index_ids = dict(zip((row["id"] for row in indexed), inserted.scalars(), strict=True))
        copied_tags = [
            {**_without_id(tag), "event_id": index_ids[tag["event_id"]]}
            for tag in tag_rows
            if tag["event_id"] in index_ids
        ]
        if copied_tags:
            conn.execute(tags.insert(), copied_tags)
        for row in asset_rows:
            entry = deserialize_value(row["event"], dg.EventLogEntry)
            target._store_asset_event(conn, entry, index_ids[row["id"]])
        for row in indexed:
            if row["dagster_event_type"] in _CHECK_EVENTS:
                entry = deserialize_value(row["event"], dg.EventLogEntry)
                target.store_asset_check_event(entry, index_ids[row["id"]])
    return [
        deserialize_value(row["event"], dg.EventLogEntry)
        for row in rows
        if row["dagster_event_type"] in _JOB_EVENTS
    ]


def _asset_row_writes(events: list[tuple[str, str, T]]) -> list[T]:
    """Of the asset events ``events`` (asset, kind, event) in the order they happened, those
    that leave each asset's row as writing every one does: the asset's first (which creates
    the row, so the assets are numbered as they came), then its last of each kind (what the
    row keeps of that kind), in their order."""
    first = {asset: i for i, (asset, _, _) in reversed(list(enumerate(events)))}
    last = {(asset, kind): i for i, (asset, kind, _) in enumerate(events)}
    return [events[i][2] for i in (*sorted(first.values()), *sorted(last.values()))]


def _without_id(row: dict) -> dict:
    return {column: value for column, value in row.items() if column != "id"}


@contextmanager
def _index_held(storage: SqliteEventLogStorage) -> Iterator[Connection]:
    """A connection to the index database of ``storage`` in one transaction, committed at the
    end, which ``storage``'s own methods use within the block (each would otherwise open its
    own connection and commit, some 20 ms, and wait for the lock this one holds)."""
    with storage._connect(INDEX_SHARD_NAME):  # Dagster's own creates the file and its tables
        pass
    engine = create_engine(storage.conn_string_for_shard(INDEX_SHARD_NAME), poolclass=NullPool)
    try:
        with engine.connect() as held, held.begin():
            dagster_connect = storage._connect

            @contextmanager
            def connect(shard: str) -> Iterator[Connection]:
                if shard == INDEX_SHARD_NAME:
                    yield held
                else:
                    with dagster_connect(shard) as connection:
                        yield connection

            storage._connect = connect
            try:
                yield held
            finally:
                del storage._connect
    finally:
        engine.dispose()
