"""The messy landing folder through the whole pipeline, as a shop would run it: a backfill of the
first five days, then the nightly run of the sixth and one more publish, while a BI reader in
another process reads the serving copy in a loop."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration.defs.publish import PUBLISHED_KEY
from orchestration.settings import PROJECT_ROOT
from tests.support import messy_landing as messy
from tests.support import throwaway_instance
from tests.support.pipeline_process import pipeline_definitions

READER_TIMEOUT = 60


@dataclass
class MessyPipeline:
    landing: Path
    warehouse: Path
    serving: Path
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    reads: list[dict] = field(default_factory=list)
    """What the reader process saw, one entry per read."""
    published: dict[str, dict[str, int]] = field(default_factory=dict)
    """Row counts per table of every publish, by run id."""

    def record(self, results: list[dg.ExecuteInProcessResult]) -> None:
        for result in results:
            assert result.success, result.run_id
            for m in result.asset_materializations_for_node("serving__published"):
                self.published[result.run_id] = m.metadata["row_counts"].value
        self.runs += results


def _reads(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def _wait_for(out: Path, condition, what: str) -> None:
    deadline = time.monotonic() + READER_TIMEOUT
    while not condition(_reads(out)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the reader did not {what} within {READER_TIMEOUT} s")
        time.sleep(0.1)


def build_messy_pipeline(root: Path) -> MessyPipeline:
    """Landing, warehouse and serving folder under ``root``, after the runs described above."""
    from orchestration.stages import run_range

    landing = messy.build_messy_landing(root / "landing")
    warehouse = root / "warehouse" / "warehouse.duckdb"
    result = MessyPipeline(landing, warehouse, warehouse.parent / "serving")
    definitions = pipeline_definitions(warehouse, landing)
    out, stop = root / "reads.jsonl", root / "stop-reading"
    with throwaway_instance() as instance:
        result.record(list(run_range(definitions, messy.START, messy.DAYS[4], instance)))
        reader = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.serving_reader",
                str(result.serving),
                str(out),
                str(stop),
            ],
            cwd=PROJECT_ROOT,
        )
        try:
            _wait_for(out, lambda reads: len(reads) >= 3, "start reading")
            result.record(list(run_range(definitions, messy.END, messy.END, instance)))
            job = definitions.resolve_implicit_global_asset_job_def()
            result.record(
                [job.execute_in_process(asset_selection=[PUBLISHED_KEY], instance=instance)]
            )
            last = list(result.published)[-1]
            _wait_for(
                out,
                lambda reads: sum(r.get("database", {}).get("run_id") == last for r in reads) >= 3,
                "see the last publish",
            )
        finally:
            stop.touch()
            reader.wait(timeout=30)
    result.reads = _reads(out)
    return result
