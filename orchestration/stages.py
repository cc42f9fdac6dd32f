"""Materialising a range of days from the command line, in stages.

A ranged run that mixes partitioned and unpartitioned assets makes Dagster record a planned
event for every asset and every day of the range, unpartitioned assets included (for two years
and 28 assets, some 20,000 events before any work starts). Running the graph in stages that
alternate between partitioned assets (given the range) and unpartitioned ones (run once)
records events only for the assets that really have partitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Stage:
    """Assets that run together: all partitioned (over the range) or all unpartitioned."""

    partitioned: bool
    keys: tuple[dg.AssetKey, ...]


def plan_stages(graph: AssetGraph) -> list[Stage]:
    """Split the materialisable assets of ``graph`` into the fewest stages, in dependency order,
    such that each stage is all partitioned or all unpartitioned.

    An asset's stage number is even when it is partitioned and odd when not, and at least that
    of each parent; it goes up by one wherever the kind changes along an edge.
    """
    level: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        parity = 0 if node.partitions_def is not None else 1
        floor = max((level[p] for p in node.parent_keys if p in level), default=0)
        level[key] = floor if floor % 2 == parity else floor + 1
    stages = []
    for number in sorted(set(level.values())):
        keys = tuple(sorted(k for k, n in level.items() if n == number))
        stages.append(Stage(partitioned=number % 2 == 0, keys=keys))
    return stages


def run_range(
    definitions: dg.Definitions,
    start: date,
    end: date,
    instance: dg.DagsterInstance,
    job_name: str | None = None,
    raise_on_error: bool = False,
) -> Iterator[dg.ExecuteInProcessResult]:
    """Run every stage for the days ``start``..``end``, one in-process run per stage of the job
    ``job_name`` (default: all assets), stopping after the first run that fails. Yields each
    run's result."""
    job = (
        definitions.resolve_job_def(job_name)
        if job_name
        else definitions.resolve_implicit_global_asset_job_def()
    )
    for stage in plan_stages(definitions.resolve_asset_graph()):
        tags = (
            {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
            if stage.partitioned
            else {}
        )
        result = job.execute_in_process(
            asset_selection=list(stage.keys),
            instance=instance,
            tags=tags,
            raise_on_error=raise_on_error,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        yield result
        if not result.success:
            return
