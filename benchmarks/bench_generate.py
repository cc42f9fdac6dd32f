"""How long the demo-data generator takes, and how much memory it needs, at a given size.

    python benchmarks/bench_generate.py --customers 100000 --days 730

Prints customers, orders, order lines, rows per entity, seconds and peak memory. The output goes
to a temporary folder that is deleted afterwards unless ``--keep`` (or ``--out``) is given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo_data import GeneratorConfig, generate  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="output folder (kept); default: a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary output")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="weixi-bench-"))
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    try:
        summary = generate(
            GeneratorConfig(
                out=out,
                customers=args.customers,
                days=args.days,
                end_date=args.end_date,
                seed=args.seed,
            ),
            progress=progress,
        )
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print(f"customers      {summary.customers:>14,}")
        print(f"orders         {summary.orders:>14,}")
        print(f"order lines    {summary.rows['orders/order_lines']:>14,}")
        print("rows written per source/entity (orders: first delivery plus status changes)")
        for name, count in summary.rows.items():
            print(f"  {name:<20} {count:>12,}")
        print(f"files          {summary.files:>14,}")
        print(f"seconds        {summary.seconds:>14,.1f}")
        print(f"peak memory    {peak_mib:>14,.0f} MiB")
        print(f"output         {out}" + ("" if args.keep or args.out else "  (deleted)"))
    finally:
        if not (args.keep or args.out):
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
