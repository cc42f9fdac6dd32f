"""The lane's raw tables on Spark: the ingestion assets run on Spark settings
(``WEIXI_ENGINE=spark``), so the loader writes its Parquet day folders under
``WEIXI_SPARK_RAW_ROOT``, over every day of the landing folder, into a DuckDB file of their own
(the DuckDB build's warehouse is left as it is).

Run by the main environment's Python (the lane's has no Weixi), with the ``WEIXI_*`` variables
of :func:`tests.spark_lane.duckdb_build.raw_environment`::

    .venv/bin/python -m tests.spark_lane.raw_load
"""

from __future__ import annotations

import dagster as dg

from orchestration.cli import landing_dates
from orchestration.defs.activation.suppressions import suppressions
from orchestration.defs.raw import ingest_assets
from orchestration.defs.resources import build_resources
from orchestration.settings import get_settings
from orchestration.stages import RANGE_END_TAG, RANGE_START_TAG


def main() -> None:
    settings = get_settings()
    resources = build_resources(settings)
    if resources["landing"].parquet_store() is None:
        raise SystemExit("raw_load: WEIXI_ENGINE must be spark (the Parquet store is off)")
    days = landing_dates(settings.landing)
    # The loader and the consent ledger work in the DuckDB file, the control file.
    needed = {name: resources[name] for name in ("landing", "erasure_requests", "control")}
    loaded = dg.materialize(
        ingest_assets,
        resources=needed,
        tags={RANGE_START_TAG: days[0].isoformat(), RANGE_END_TAG: days[-1].isoformat()},
    )
    # The consent ledger deletes erased customers' rows from the raw CRM tables, and from
    # their Parquet copy, as in the DuckDB build.
    if not (loaded.success and dg.materialize([suppressions], resources=needed).success):
        raise SystemExit("raw_load: the ingestion assets or the consent ledger failed on Spark")


if __name__ == "__main__":
    main()
