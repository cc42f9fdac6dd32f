"""The late-data sensor: files that arrive for a day already loaded re-run that day."""

from pathlib import Path

import dagster as dg
import duckdb

from ingest.late import find_late_deliveries
from orchestration.defs.resources import Landing, Warehouse, WarehouseLocked
from orchestration.defs.schedules import nightly_job

LATE_DELIVERY_TAG = "weixi/late_delivery"


@dg.sensor(
    job=nightly_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Re-runs a day already loaded when its landing folders receive new or changed files "
        "(a late delivery or a corrected re-delivery): once per new state of the day's files."
    ),
)
def late_deliveries_sensor(
    context: dg.SensorEvaluationContext, control: Warehouse, landing: Landing
) -> dg.SensorResult | dg.SkipReason:
    """Requests the nightly job for each loaded day whose landing files changed."""
    if not Path(control.path).exists():
        return dg.SkipReason(f"no warehouse at {control.path} yet")
    try:
        with control.connect(read_only=True) as con:
            late = find_late_deliveries(con, landing.path)
    except (duckdb.IOException, WarehouseLocked) as exc:
        # A run holds the file; the next tick looks again.
        return dg.SkipReason(f"the warehouse is in use by a run: {exc}")
    if not late:
        return dg.SkipReason("no new or changed files for days already loaded")
    requests = []
    for delivery in late:
        shown = ", ".join(delivery.files[:3]) + (
            f" and {len(delivery.files) - 3} more" if len(delivery.files) > 3 else ""
        )
        context.log.info(f"{delivery.day}: late files {shown}")
        requests.append(
            dg.RunRequest(
                partition_key=delivery.day.isoformat(),
                run_key=f"late-delivery:{delivery.day}:{delivery.fingerprint}",
                tags={LATE_DELIVERY_TAG: shown[:200]},
            )
        )
    return dg.SensorResult(run_requests=requests)
