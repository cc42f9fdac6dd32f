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
from dagster._core.storage.event_log.base import EventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine
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

        storage._connect = connect
        storage.has_table = has_table
        try:
            yield
        finally:
            del storage._connect
            del storage.has_table
