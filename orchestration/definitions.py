"""The code location: the defs/ modules, the publish step, resources from the settings, one
writer."""

from pathlib import Path

import dagster as dg

from orchestration.console import compact_console
from orchestration.defs.publish import with_publish_asset
from orchestration.defs.quality.checks import quality_definitions
from orchestration.defs.report import with_report_asset
from orchestration.defs.resources import build_resources
from orchestration.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(
        # Publishing and the report depend on every mart, so they are added once every module
        # is loaded.
        with_report_asset(with_publish_asset(loaded)),
        # Output-table checks only for the tables the loaded assets define.
        quality_definitions(loaded),
        # DuckDB allows one writing process: steps run one after another in the run's process.
        dg.Definitions(
            resources=build_resources(get_settings()),
            executor=dg.in_process_executor,
            loggers={"console": compact_console},
        ),
    )
