"""Runs on a throw-away Dagster instance, copied into the persistent one that `weixi dev` shows:
the runs (failed ones too) with their start and end, every partition's materialisation, the
latest materialisation of each asset and the check evaluations."""

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestration.instance import copy_runs, throwaway_instance

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01")


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
