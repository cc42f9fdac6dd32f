"""The nightly job and its schedule: yesterday's partition, end to end, at 02:00 shop time."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import WeixiSettings, get_settings

NIGHTLY_JOB = "weixi_nightly"


def nightly_retry_policy(settings: WeixiSettings) -> dg.RetryPolicy:
    """How a failed step retries: transient failures (the warehouse file locked for a moment by
    another process, a dbt hiccup) pass on a later attempt. A bad delivery fails at once: the
    ingestion asset raises it with ``allow_retries=False``."""
    return dg.RetryPolicy(
        max_retries=settings.step_retries,
        delay=settings.retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
    )


nightly_job = dg.define_asset_job(
    NIGHTLY_JOB,
    # Partitioned by the daily partitions of the ingestion and incremental assets it selects.
    selection=dg.AssetSelection.all(),
    description="Load a day's deliveries and rebuild every model and mart from them.",
    op_retry_policy=nightly_retry_policy(get_settings()),
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    hour_of_day=get_settings().nightly_hour,
    minute_of_hour=get_settings().nightly_minute,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
