"""Runs on a throw-away Dagster instance, copied into the persistent one that `weixi dev` shows:
the runs (failed ones too) with their start and end, every partition's materialisation, the
latest materialisation of each asset and the check evaluations, in the tables Dagster's own
storage writes."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.utils import make_new_run_id

from orchestration.instance import NOT_COPIED, copy_runs, throwaway_instance

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01")
WEEK = {
    "dagster/asset_partition_range_start": "2025-01-03",
    "dagster/asset_partition_range_end": "2025-01-09",
}


@dg.asset(partitions_def=DAILY)
def daily_rows() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


@dg.asset_check(asset=daily_rows)
def rows_present() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"rows": 3})


@dg.asset
def summary() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset
def noted() -> Iterator:
    """Observes another asset before and after its materialisation."""
    yield dg.AssetObservation(asset_key="feed", metadata={"seen": 1})
    yield dg.MaterializeResult(metadata={"dagster/row_count": 2})
    yield dg.AssetObservation(asset_key="feed", metadata={"seen": 2})


@dg.asset
def latest_day(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Reads, in its run, the latest materialisation of ``daily_rows``."""
    latest = context.instance.get_latest_materialization_event(daily_rows.key)
    return dg.MaterializeResult(metadata={"read": latest.asset_materialization.partition})


@dg.asset
def broken() -> None:
    raise RuntimeError("a bad night")


@pytest.fixture(params=[throwaway_instance, dg.DagsterInstance.ephemeral])
def copied(request, tmp_path):
    with request.param() as source:
        runs = [
            dg.materialize([daily_rows, rows_present], instance=source, partition_key=day)
            for day in ("2025-01-01", "2025-01-02")
        ]
        runs.append(dg.materialize([summary], instance=source))
        runs.append(dg.materialize([broken], instance=source, raise_on_error=False))
        with dg.DagsterInstance.local_temp(str(tmp_path)) as target:
            copy_runs(source, target)
            copy_runs(source, target)  # a second copy adds nothing
            yield target, [r.run_id for r in runs]


def test_the_runs_and_their_outcome_are_copied(copied):
    target, run_ids = copied
    records = {r.dagster_run.run_id: r for r in target.get_run_records()}
    assert set(records) == set(run_ids)
    statuses = [records[run_id].dagster_run.status for run_id in run_ids]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 3 + [dg.DagsterRunStatus.FAILURE]
    assert all(r.start_time and r.end_time for r in records.values())
    assert target.all_logs(run_ids[0]), "the run's log is there too"


def test_materialisations_and_check_evaluations_are_copied(copied):
    target, run_ids = copied
    assert target.get_materialized_partitions(daily_rows.key) == {"2025-01-01", "2025-01-02"}
    latest = target.get_latest_materialization_event(summary.key)
    assert latest.run_id == run_ids[2]
    assert latest.asset_materialization.metadata["dagster/row_count"].value == 1
    check = dg.AssetCheckKey(daily_rows.key, "rows_present")
    history = target.event_log_storage.get_asset_check_execution_history(check, 10)
    succeeded = {h.run_id for h in history if h.status == AssetCheckExecutionRecordStatus.SUCCEEDED}
    assert succeeded == set(run_ids[:2])


def test_the_copy_writes_the_tables_dagsters_own_storage_writes(tmp_path):
    """Copied from the rows the run stored: every table of every event log database equals
    what storing the same events one by one writes (row ids, the assets' latest events, tags,
    check executions), into an instance that already holds a run of the same assets."""
    with throwaway_instance() as source:
        for day in ("2025-01-01", "2025-01-02"):
            dg.materialize([daily_rows, rows_present], instance=source, partition_key=day)
            dg.materialize([summary], instance=source)
        dg.materialize([daily_rows, rows_present], instance=source, tags=WEEK)
        dg.materialize([noted], instance=source)
        dg.materialize([broken], instance=source, raise_on_error=False)
        records = sorted(source.get_run_records(), key=lambda r: r.create_timestamp)
        tables = {}
        for name in ("copied", "stored"):
            (tmp_path / name).mkdir()
            with dg.DagsterInstance.local_temp(str(tmp_path / name)) as target:
                _store_one_by_one(source, records[:1], target)
                if name == "copied":
                    copy_runs(source, target)
                else:
                    _store_one_by_one(source, records[1:], target)
            tables[name] = _event_tables(tmp_path / name)
    assert tables["copied"] == tables["stored"]
    index = tables["copied"]["index.db"]
    materialized = [row for row in index["event_logs"] if row[3] == "ASSET_MATERIALIZATION"]
    assert len(materialized) == 2 + 2 + 7 + 1, "two days, two summaries, a week, one noted"
    assert len(index["asset_keys"]) == 4
    assert index["asset_event_tags"] and index["asset_check_executions"]


def test_the_run_log_answers_reads_as_dagsters_own():
    """The throw-away instance writes an asset's row only before the next read: what a run
    and the copy read of the latest events is what Dagster's in-memory instance answers."""
    answers = {}
    for make in (throwaway_instance, dg.DagsterInstance.ephemeral):
        with make() as instance:
            dg.materialize([daily_rows], instance=instance, tags=WEEK)
            noted_run = dg.materialize([noted], instance=instance).run_id
            read = dg.materialize([latest_day], instance=instance)
            [record] = instance.get_asset_records([noted.key])
            feed = instance.fetch_observations(dg.AssetKey("feed"), limit=1).records[0]
            answers[make] = (
                read.asset_materializations_for_node("latest_day")[0].metadata["read"].value,
                record.asset_entry.last_run_id == noted_run,
                feed.asset_observation.metadata["seen"].value,
                instance.get_materialized_partitions(daily_rows.key),
            )
    assert answers[throwaway_instance] == answers[dg.DagsterInstance.ephemeral]
    assert answers[throwaway_instance][:3] == ("2025-01-09", True, 2)


def _store_one_by_one(source, records, target) -> None:
    """The runs ``records`` of ``source`` in ``target``, their events stored by Dagster."""
    for record in records:
        run = record.dagster_run
        for snapshot_id, snapshot in (
            (run.job_snapshot_id, source.get_job_snapshot),
            (run.execution_plan_snapshot_id, source.get_execution_plan_snapshot),
        ):
            if not target.has_snapshot(snapshot_id):
                target.add_snapshot(snapshot(snapshot_id))
        events = source.all_logs(run.run_id)
        target.event_log_storage.store_event_batch(
            [e for e in events if e.dagster_event_type not in NOT_COPIED]
        )
        target.run_storage.add_historical_run(run, record.create_timestamp)


def _event_tables(home) -> dict[str, dict[str, list[tuple]]]:
    """Each table's rows in each event log database of the Dagster home ``home``, but for the
    times the databases wrote them (``create_timestamp``, ``migration_completed``)."""
    databases = {}
    for path in sorted((home / "history" / "runs").glob("*.db")):
        with closing(sqlite3.connect(path)) as con:
            tables = {}
            for (name,) in con.execute("select name from sqlite_master where type = 'table'"):
                columns = [
                    f'"{column}"'
                    for _, column, *_ in con.execute(f"pragma table_info({name})")
                    if column not in WRITTEN_AT
                ]
                rows = con.execute(f"select {', '.join(columns)} from {name} order by 1")
                tables[name] = rows.fetchall()
            databases[path.name] = tables
    return databases


WRITTEN_AT = {"create_timestamp", "migration_completed"}


def test_a_listener_of_the_run_log_reads_what_was_stored():
    """A listener (as Dagster's UI or a sensor watching a run) that reads the log on each
    event reads the asset's row with the event it was told of."""
    job = dg.Definitions(assets=[summary], jobs=[dg.define_asset_job("summary_job")])
    read = []
    with throwaway_instance() as instance:
        run_id = make_new_run_id()

        def listen(event: dg.EventLogEntry, _cursor: str) -> None:
            if event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION:
                read.append(instance.get_latest_materialization_event(summary.key))

        instance.event_log_storage.watch(run_id, None, listen)
        job.resolve_job_def("summary_job").execute_in_process(instance=instance, run_id=run_id)
    assert [event.run_id for event in read] == [run_id]


def test_a_target_other_than_weixis_sqlite_instance_is_refused_by_name():
    with throwaway_instance() as source, dg.DagsterInstance.ephemeral() as target:
        with pytest.raises(TypeError, match="into InMemoryEventLogStorage"):
            copy_runs(source, target)
