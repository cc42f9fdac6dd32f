"""The Dagster instance that `weixi` commands and `make dev` share, so that runs started from the
command line show in the UI. Its configuration keeps one run, and one warehouse writer, at a
time within the instance; the writer lock (`orchestration.warehouse_lock`) keeps one writer per
warehouse across instances and processes, throw-away command-line instances included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log.base import EventLogCursor, EventLogStorage
from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from orchestration.settings import WeixiSettings

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
    once, and :data:`NOT_COPIED` events reach the listeners but not the tables."""

    def __init__(self) -> None:
        super().__init__()
        with self._held_conn.begin():
            self._held_conn.execute(text("PRAGMA foreign_keys=ON;")).close()
        self._known_tables: dict[str, bool] = {}
        self._asset_key_index_cols: bool | None = None

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._db_lock, self._held_conn.begin():
            yield self._held_conn

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._known_tables:
            self._known_tables[table_name] = super().has_table(table_name)
        return self._known_tables[table_name]

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        if self._asset_key_index_cols is None:
            self._asset_key_index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._asset_key_index_cols

    def store_event(self, event: dg.EventLogEntry) -> None:
        if event.dagster_event_type not in NOT_COPIED:
            super().store_event(event)
            return
        for handler in list(self._handlers[event.run_id]):
            handler(event, str(EventLogCursor.from_storage_id(self._storage_id)))


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
    partition); copying writes the same events in one transaction per database file."""
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
        events = [e for e in source.all_logs(run_id) if e.dagster_event_type not in NOT_COPIED]
        with _one_transaction_per_shard(target.event_log_storage, run_id):
            target.event_log_storage.store_event_batch(events)
        target.run_storage.add_historical_run(run, record.create_timestamp)
        for entry in events:
            if entry.is_dagster_event and entry.get_dagster_event().is_job_event:
                target.run_storage.handle_run_event(
                    run_id, entry.get_dagster_event(), datetime.fromtimestamp(entry.timestamp, UTC)
                )


@contextmanager
def _one_transaction_per_shard(storage: EventLogStorage, run_id: str) -> Iterator[None]:
    """Within the block, the SQLite event log of ``storage`` writes each of its database files
    (the run's and the cross-run index) in one transaction, committed at the end.

    Dagster's SQLite event log opens a connection and commits for every event (some 20 ms
    each), and asks whether a table exists through a new engine for every event. Within the
    block the writes share one transaction per file and each table is looked up once: a
    two-year run's 10,600 events copy in about 45 s instead of 160 s. Other storages
    (Postgres) are left as they are."""
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    shards = (run_id, INDEX_SHARD_NAME)
    for shard in shards:
        # Dagster's own connection creates the database file and its tables.
        with storage._connect(shard):
            pass
    with ExitStack() as stack:
        connections = {}
        for shard in shards:
            engine = create_engine(storage.conn_string_for_shard(shard), poolclass=NullPool)
            stack.callback(engine.dispose)
            connection = stack.enter_context(engine.connect())
            stack.enter_context(connection.begin())
            connections[shard] = connection

        dagster_connect = storage._connect

        @contextmanager
        def connect(shard: str) -> Iterator[Connection]:
            if shard in connections:
                yield connections[shard]
            else:
                with dagster_connect(shard) as connection:
                    yield connection

        # Dagster asks whether a table exists for every event, each time through a new engine
        # (a third of a two-year run's copy); no table appears or goes while copying.
        dagster_has_table = storage.has_table
        tables: dict[str, bool] = {}

        def has_table(table_name: str) -> bool:
            if table_name not in tables:
                tables[table_name] = dagster_has_table(table_name)
            return tables[table_name]

        # And which columns the asset table has, for every asset event.
        asset_key_index_cols = storage._has_asset_key_index_cols_on_connection(
            connections[INDEX_SHARD_NAME]
        )

        storage._connect = connect
        storage.has_table = has_table
        storage._has_asset_key_index_cols_on_connection = lambda _: asset_key_index_cols
        try:
            yield
        finally:
            del storage._connect
            del storage.has_table
            del storage._has_asset_key_index_cols_on_connection
