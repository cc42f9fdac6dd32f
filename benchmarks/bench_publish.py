"""Time the publish step (write, audit, swap the serving copy) and the loader's checks on an
existing warehouse and landing folder; prints figures, asserts nothing. Example, after `make run`:

    .venv/bin/python benchmarks/bench_publish.py --warehouse data/warehouse.duckdb \
        --landing data/landing

The warehouse is copied to a temporary folder first, so the original is left alone.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from ingest.contract import SOURCES
from ingest.loader import load_source
from orchestration.cli import landing_dates
from serving.snapshot import publish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path("data/warehouse.duckdb"))
    parser.add_argument("--landing", type=Path, default=Path("data/landing"))
    parser.add_argument("--repeat", type=int, default=3, help="publishes to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        shutil.copy(args.warehouse, warehouse)
        serving = Path(tmp) / "serving"
        with duckdb.connect(str(warehouse)) as con:
            seconds = []
            for i in range(args.repeat):
                began = time.monotonic()
                result = publish(con, serving, f"bench-{i}")
                seconds.append(time.monotonic() - began)
            rows = sum(result.tables.values())
            print(f"tables={len(result.tables)} rows={rows:,}")
            print(f"publish_seconds={min(seconds):.2f} (best of {args.repeat})")
            print(f"serving_database_mb={result.database_bytes / 2**20:,.1f}")
            print(f"parquet_mb={result.parquet_bytes / 2**20:,.1f}")
            print(f"warehouse_mb={args.warehouse.stat().st_size / 2**20:,.1f}")
            if args.landing.is_dir():
                days = landing_dates(args.landing)
                began = time.monotonic()
                read = 0
                for source in SOURCES:
                    report = load_source(con, source, args.landing, days[0], days[-1], "bench")
                    read += report.total("rows_read")
                load = time.monotonic() - began
                print(
                    f"load_seconds={load:.1f} for {len(days)} days, {read:,} rows "
                    f"({read / load:,.0f} rows/s with hashing, encoding and row checks)"
                )


if __name__ == "__main__":
    main()
