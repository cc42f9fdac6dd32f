"""The lane's whole run on Spark: the pipeline run as `weixi run` runs it (``run_range``, stage
by stage, in one process), with ``WEIXI_ENGINE=spark`` on a Spark Connect server: the loader,
the consent ledger, text sentiment and the raw checks in the control file, dbt and the model
assets on Spark.

Not yet in it (until ``SparkWarehouse.connect()`` lands, branch ``spark_reads``): activation,
publish, the report and the output-table checks, which read the marts through
``warehouse.connect()``. So the run is every other asset of the night (``spark_targets``),
without the output-table checks. Once they run on Spark, this is ``weixi run`` itself.

Run by the Spark environment's Python with the ``WEIXI_*`` variables of the lane's step::

    .venv-spark/bin/python -m tests.spark_lane.spark_run
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from orchestration.cli import landing_dates
from orchestration.defs.dbt.project import prepare_manifest
from orchestration.defs.resources import build_resources
from orchestration.instance import throwaway_instance
from orchestration.settings import get_settings
from orchestration.stages import run_range

ACTIVATION_GROUP = "activation"
RUNS_ON_SPARK_IN_ACTIVATION = dg.AssetKey(["governance", "suppressions"])
"""The consent ledger: in the activation group, but it works in the control file."""


def spark_targets(definitions: dg.Definitions) -> list[dg.AssetKey]:
    """Every asset of the night but activation (audiences, exports, lift); publish and the
    report are not in the loaded definitions."""
    graph = definitions.resolve_asset_graph()
    return sorted(
        key
        for key in graph.materializable_asset_keys
        if graph.get(key).group_name != ACTIVATION_GROUP or key == RUNS_ON_SPARK_IN_ACTIVATION
    )


def main() -> None:
    settings = get_settings()
    if settings.engine != "spark" or not settings.spark_connect_url:
        raise SystemExit("spark_run: needs WEIXI_ENGINE=spark and WEIXI_SPARK_CONNECT_URL")
    prepare_manifest()
    # As `weixi run --up-to`: dbt runs the tests whose tables are all selected.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    loaded = dg.load_from_defs_folder(
        path_within_project=Path(__file__).resolve().parents[2] / "orchestration"
    )
    # No output-table checks (quality_definitions), no publish or report: see the module.
    definitions = dg.Definitions.merge(
        loaded,
        dg.Definitions(resources=build_resources(settings), executor=dg.in_process_executor),
    )
    days = landing_dates(settings.landing)
    results = list(
        run_range(
            definitions,
            days[0],
            days[-1],
            throwaway_instance(),
            up_to=spark_targets(definitions),
        )
    )
    if not all(result.success for result in results):
        failed = [
            f"{event.step_key}: {event.step_failure_data.error.message.strip()[:600]}"
            for result in results
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error
        ]
        raise SystemExit("spark_run: the run on Spark failed\n" + "\n".join(failed))


if __name__ == "__main__":
    main()
