"""Time the churn model: training and scoring at 100k and 1M customers, and optionally the dbt
feature snapshots and both churn assets on a generated warehouse.

Training and scoring run on synthetic snapshots with the real feature columns
(``ml.churn_synthetic``): twelve labelled as-of dates of the active 60% of the customers for
training, and one row per customer for scoring (scored with both candidate kinds, since either
can win). Each measurement runs in a fresh process, so its peak memory (max RSS, input frame
included) is its own. Nothing is asserted. Examples:
    .venv/bin/python benchmarks/bench_churn.py                       # 100k and 1M customers
    .venv/bin/python benchmarks/bench_churn.py --customers 100000 --warehouse-customers 100000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WEIXI = str(Path(sys.executable).with_name("weixi"))


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(task: str, customers: int, out: multiprocessing.Queue) -> None:
    """Run one measurement in this (fresh) process and report seconds and memory."""
    from ml import churn
    from ml.churn_synthetic import synthetic_snapshots

    if task == "train":
        data = synthetic_snapshots(customers, snapshots=12, seed=1)
        rows = int(data["churned"].notna().sum())
    else:
        data = synthetic_snapshots(customers, snapshots=0, active_share=1.0, seed=2)
        rows = len(data)
        train = synthetic_snapshots(20_000, snapshots=6, seed=3)
        split = churn.split_out_of_time(train)
        fit = {
            "score_trees": lambda: churn.fit_gradient_boosting(split.train),
            "score_logistic": lambda: churn.fit_logistic_regression(split.train),
        }[task]
        model = fit()
    before = _rss_mb()
    began = time.perf_counter()
    if task == "train":
        candidate = churn.train_candidate(data)
        detail = (
            f"{candidate.training_rows:,} rows fitted, chose {candidate.model.kind}, "
            f"AUC {candidate.metrics.roc_auc:.3f}, "
            f"recency only {candidate.baseline_metrics.roc_auc:.3f}"
        )
    else:
        scored = churn.score(model, data, medium_from=0.4, high_from=0.7)
        detail = f"{model.kind}, {scored['reason_2'].notna().mean():.0%} with 2+ reasons"
    seconds = time.perf_counter() - began
    out.put(
        {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "input_mb": before,
            "rows": rows,
            "detail": detail,
        }
    )


def _in_fresh_process(task: str, customers: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(task, customers, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _warehouse_figures(customers: int, workdir: Path) -> list[tuple[str, float]]:
    """Generate two years for ``customers``, run the pipeline, then time the feature SQL and the
    two churn assets on that warehouse."""
    env = {
        **os.environ,
        "WEIXI_LANDING": str(workdir / "landing"),
        "WEIXI_WAREHOUSE": str(workdir / "warehouse.duckdb"),
        "WEIXI_DAGSTER_HOME": str(workdir / "dagster_home"),
        "WEIXI_MODEL_REGISTRY": str(workdir / "models"),
    }
    figures = []
    for label, args in (
        ("generate demo data", [WEIXI, "generate", "--customers", str(customers)]),
        ("weixi run (whole pipeline, churn included)", [WEIXI, "run"]),
    ):
        began = time.perf_counter()
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
        figures.append((label, time.perf_counter() - began))
    script = """
import json, time
import dagster as dg
from orchestration.defs.dbt.resource import dbt_resource
from orchestration.defs.ml.churn import churn_model, churn_scores
from orchestration.defs.resources import build_resources
from orchestration.settings import get_settings
settings = get_settings()
began = time.perf_counter()
dbt = dbt_resource(settings)
dbt.cli(["run", "--select", "churn_feature_snapshots", "--vars",
         json.dumps(dbt.vars_for(str(settings.warehouse)))]).wait()
features = time.perf_counter() - began
resources = build_resources(settings)
began = time.perf_counter()
assert dg.materialize([churn_model], resources=resources).success
model = time.perf_counter() - began
began = time.perf_counter()
assert dg.materialize([churn_scores], resources=resources).success
scores = time.perf_counter() - began
print(json.dumps([features, model, scores]))
"""
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True
    )
    features, model, scores = json.loads(run.stdout.strip().splitlines()[-1])
    figures += [
        ("dbt run churn_feature_snapshots (13 as-of dates)", features),
        ("churn_model asset (read, train, validate, register)", model),
        ("churn_scores asset (read, score, reasons, write)", scores),
    ]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument(
        "--warehouse-customers",
        type=int,
        default=0,
        help="also generate this many customers over two years and time the dbt features and "
        "both churn assets on the warehouse (0: skip)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the warehouse here (default: temp)")
    args = parser.parse_args()

    header = ("step", "customers", "rows", "seconds", "peak MB", "input MB")
    print(f"{header[0]:<16} " + " ".join(f"{h:>10}" for h in header[1:]) + "  detail")
    for customers in args.customers:
        for task in ("train", "score_trees", "score_logistic"):
            r = _in_fresh_process(task, customers)
            print(
                f"{task:<16} {customers:>10,} {r['rows']:>10,} {r['seconds']:>10.1f} "
                f"{r['peak_mb']:>10,.0f} {r['input_mb']:>10,.0f}  {r['detail']}",
                flush=True,
            )
    if args.warehouse_customers:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = args.workdir or Path(tmp)
            print(f"\nwarehouse with {args.warehouse_customers:,} customers, two years:")
            for label, seconds in _warehouse_figures(args.warehouse_customers, workdir):
                print(f"  {label:<52} {seconds:>7.1f} s", flush=True)


if __name__ == "__main__":
    main()
