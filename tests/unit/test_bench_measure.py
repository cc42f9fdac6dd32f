"""The pipeline benchmark's measure counts the memory of every process a command starts, and
says which processes held the peak."""

from __future__ import annotations

import importlib.util
import sys

from orchestration.settings import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location(
    "bench_pipeline", PROJECT_ROOT / "benchmarks" / "bench_pipeline.py"
)
bench_pipeline = sys.modules["bench_pipeline"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_pipeline)

HOLD_400_MIB = "import time; block = bytearray(400 * 2**20); time.sleep(2)"


def test_the_peak_over_all_processes_includes_a_grandchild_and_names_it() -> None:
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD_400_MIB!r}])"

    cost = bench_pipeline.measured([sys.executable, "-c", child], env={})

    assert cost.max_tree_gib >= 400 / 1024
    assert cost.max_process_gib >= 400 / 1024  # wait4 reports the largest descendant
    assert 0 < cost.peak_at < cost.wall
    held = cost.peak_processes.split(", ")
    assert len(held) == 1 and held[0].startswith("python")
    assert float(held[0].split()[1]) >= 0.39
