"""The Dagster instance that `weixi` commands and `make dev` share, so that runs started from the
command line show in the UI. Its configuration keeps one run, and one warehouse writer, at a
time within the instance; the writer lock (`orchestration.warehouse_lock`) keeps one writer per
warehouse across instances and processes, throw-away command-line instances included."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

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


def copy_runs(source: dg.DagsterInstance, target: dg.DagsterInstance) -> None:
    """Copy every run of ``source`` (a throw-away instance) into ``target``: their records,
    their job and plan snapshots and every event, so the UI of ``target`` shows the runs with
    their logs, every asset's materialisations and every check's evaluations, as if
    they had run there.

    Running on a throw-away instance and copying afterwards spares the run Dagster's
    bookkeeping while it works (a ranged run writes to the instance after every step and
    partition); copying writes the same events in one go."""
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
        target.run_storage.add_historical_run(run, record.create_timestamp)
        events = source.all_logs(run_id)
        target.event_log_storage.store_event_batch(events)
        for entry in events:
            if entry.is_dagster_event and entry.get_dagster_event().is_job_event:
                target.run_storage.handle_run_event(
                    run_id, entry.get_dagster_event(), datetime.fromtimestamp(entry.timestamp, UTC)
                )
