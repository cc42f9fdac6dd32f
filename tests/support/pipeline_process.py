"""The pipeline tests run: ingestion, dbt and the publish step, staged as `weixi run` stages them.

Also a command, so that a test can run (and kill) the same pipeline in another process:

    python -m tests.support.pipeline_process WAREHOUSE LANDING START END
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.stages import run_range
from tests.support import pipeline_assets, weixi_resources


def pipeline_definitions(warehouse: Path, landing: Path, **settings: object) -> dg.Definitions:
    """Ingestion, the dbt models and the publish step over ``warehouse`` and ``landing`` (the
    model assets of other modules are left out: tiny test data is too short for them)."""
    from orchestration.defs.publish import with_publish_asset

    return with_publish_asset(
        dg.Definitions(
            assets=pipeline_assets(),
            resources=weixi_resources(warehouse, landing, **settings),
        )
    )


def run_pipeline(
    warehouse: Path, landing: Path, start: date, end: date, instance: dg.DagsterInstance
) -> list[dg.ExecuteInProcessResult]:
    """Every stage over ``start``..``end``; the results of the runs made."""
    return list(run_range(pipeline_definitions(warehouse, landing), start, end, instance))


def main(argv: list[str]) -> int:
    warehouse, landing, start, end = argv
    with dg.DagsterInstance.ephemeral() as instance:
        for i, result in enumerate(
            run_range(
                pipeline_definitions(Path(warehouse), Path(landing)),
                date.fromisoformat(start),
                date.fromisoformat(end),
                instance,
            )
        ):
            print(f"stage {i} {'done' if result.success else 'failed'}", flush=True)
            if not result.success:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
