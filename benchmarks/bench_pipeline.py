"""Time the whole pipeline: generate demo data, then `weixi run` over every day.

Prints the seconds of each phase and the size of the outputs; nothing is asserted. Example:
    .venv/bin/python benchmarks/bench_pipeline.py --customers 50000 --days 730
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

WEIXI = str(Path(sys.executable).with_name("weixi"))


def _timed(args: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--workdir", type=Path, help="keep data here (default: a temp folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        env = {
            **os.environ,
            "WEIXI_LANDING": str(work / "landing"),
            "WEIXI_WAREHOUSE": str(work / "warehouse.duckdb"),
            "WEIXI_DAGSTER_HOME": str(work / "dagster_home"),
        }
        generate = _timed(
            [WEIXI, "generate", "--customers", str(args.customers), "--days", str(args.days)], env
        )
        pipeline = _timed([WEIXI, "run"], env)
        with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
            lines = con.execute("select count(*) from marts.fct_order_lines").fetchone()[0]
            orders = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
            customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
        size_mb = (work / "warehouse.duckdb").stat().st_size / 2**20
    print(f"customers={customers:,} orders={orders:,} order_lines={lines:,} days={args.days}")
    print(f"generate_seconds={generate:,.1f}")
    print(f"pipeline_seconds={pipeline:,.1f} ({lines / pipeline:,.0f} order lines/s end to end)")
    print(f"warehouse_mb={size_mb:,.0f}")


if __name__ == "__main__":
    main()
