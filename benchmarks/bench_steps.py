"""Time single steps of the night on an existing warehouse: each named asset is materialised
alone (not what it needs), one after the other in this process, as ``weixi run`` would run it.

Point the ``WEIXI_*`` settings at a copy of a warehouse that a night has already built (the
steps write their tables and, for ``serving/published``, the serving folder). Prints wall
seconds, CPU seconds of this process (DuckDB's threads included) and of its subprocesses
(dbt), and the process's peak memory so far after each step; ``--profile DIR`` also writes a
cProfile file per step (which slows Python-heavy steps down). Nothing is asserted. Example:

    WEIXI_WAREHOUSE=/copy/warehouse.duckdb WEIXI_MODEL_REGISTRY=/copy/models ... \\
        .venv/bin/python benchmarks/bench_steps.py marts/churn_scores \\
        marts/customer_personas,marts/persona_profiles serving/published

A multi-asset step is named by all its assets, comma-separated.
"""

from __future__ import annotations

import argparse
import cProfile
import resource
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("steps", nargs="+", help="the asset key(s) of a step: marts/churn_scores")
    parser.add_argument("--profile", type=Path, help="write <step>.prof files here")
    args = parser.parse_args()

    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.instance import throwaway_instance

    job = defs().resolve_implicit_global_asset_job_def()
    instance = throwaway_instance()  # what `weixi run` runs on
    for step in args.steps:
        keys = [dg.AssetKey(name.split("/")) for name in step.split(",")]
        profile = cProfile.Profile() if args.profile else None
        began, cpu, children = time.monotonic(), time.process_time(), _children_cpu()
        if profile:
            profile.enable()
        job.execute_in_process(
            asset_selection=keys,
            instance=instance,
            raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        if profile:
            profile.disable()
            args.profile.mkdir(parents=True, exist_ok=True)
            profile.dump_stats(args.profile / f"{'_'.join(keys[0].path)}.prof")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"{step}: {time.monotonic() - began:.1f} s, {time.process_time() - cpu:.1f} CPU-s "
            f"(+ {_children_cpu() - children:.1f} CPU-s of subprocesses: dbt), "
            f"peak {peak:.2f} GiB",
            flush=True,
        )


def _children_cpu() -> float:
    """CPU seconds of the finished subprocesses this process waited for (dbt's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
