"""The pipeline benchmark's measure counts the memory of every process a command starts, and
says which processes held the peak; its report of repeated runs shows the median run and each
pair."""

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


def _cost(cpu: float) -> bench_pipeline.Cost:
    return bench_pipeline.Cost(
        wall=cpu / 2, cpu=cpu, max_process_gib=1.0, max_tree_gib=1.5, peak_at=1.0, peak_processes=""
    )


def test_repeated_core_and_floor_report_the_median_run_and_each_pair() -> None:
    size = bench_pipeline.Size(
        customers=1000,
        days=30,
        orders=None,
        order_lines=None,
        generate_seconds=None,
        backfill=None,
        night=None,
        core_runs=(_cost(300.0), _cost(240.0), _cost(260.0)),
        floor_runs=(_cost(150.0), _cost(120.0), _cost(130.0)),
    )

    rows = dict(
        (name.strip(), value.strip())
        for name, value in (
            line.rsplit("  ", 1) for line in bench_pipeline.report([size]).splitlines()
        )
    )

    assert rows["core CPU s"] == "260.0" and rows["floor CPU s"] == "130.0"
    assert rows["core ÷ floor, CPU (target ≤ 2×)"] == "2.0×"
    assert rows["core CPU s, each run"] == "300.0 240.0 260.0"
    assert rows["floor CPU s, each run"] == "150.0 120.0 130.0"
    assert rows["core ÷ floor, CPU, each pair"] == "2.0× 2.0× 2.0×"


def test_a_single_run_reports_no_pairs() -> None:
    size = bench_pipeline.Size(
        1000, 30, None, None, None, None, None, (_cost(260.0),), (_cost(100.0),)
    )

    report = bench_pipeline.report([size])

    assert "each pair" not in report and "2.6×" in report
