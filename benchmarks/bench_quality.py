"""What the data-quality checks cost: the backfill (every delivered day in one pass per table)
and the nightly run (one day), each in a fresh process as Weixi runs them, on a copy of a
warehouse that `make run` built.

    .venv/bin/python benchmarks/bench_quality.py [--warehouse data/warehouse.duckdb]

Prints seconds per phase: importing Great Expectations, the raw checks of each source
(contract, plausibility, volume), the output-table checks, and building the Data Docs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def run_scenario(warehouse: Path, scenario: str) -> None:
    began = time.perf_counter()
    import duckdb

    from data_quality.checks import check_raw_source, check_table, check_volume
    from data_quality.table_rules import MART_RULES
    from data_quality.validation import build_docs
    from ingest.contract import SOURCES
    from orchestration.settings import get_settings

    timings = [("import Great Expectations", time.perf_counter() - began)]
    docs = Path(tempfile.mkdtemp()) / "docs"
    now = datetime.now(ZoneInfo(get_settings().timezone)).replace(tzinfo=None)
    validations, rows = [], 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first, last = con.execute(
            "select min(partition_date), max(partition_date) from raw._loads"
        ).fetchone()
        start = first if scenario == "backfill" else last
        for source in SOURCES:
            began = time.perf_counter()
            checked = check_raw_source(con, source, start, last, now, docs, scenario)
            checked.append(check_volume(con, source, start, last, docs, scenario))
            rows += sum(v.rows for v in checked)
            validations += checked
            timings.append(
                (
                    f"raw {source.name} ({sum(v.rows for v in checked):,} rows)",
                    time.perf_counter() - began,
                )
            )
        began = time.perf_counter()
        for entry in MART_RULES:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema || '.' || table_name = ?",
                [entry.table],
            ).fetchone()[0]
            if exists:
                validations += check_table(con, entry, docs, scenario)
        timings.append(("output tables", time.perf_counter() - began))
    began = time.perf_counter()
    build_docs(docs, validations)
    timings.append(("Data Docs", time.perf_counter() - began))
    print(f"\n{scenario}: {start} .. {last}, {rows:,} raw rows")
    for name, seconds in timings:
        print(f"  {name:<40} {seconds:6.1f} s")
    print(f"  {'total':<40} {sum(s for _, s in timings):6.1f} s")
    shutil.rmtree(docs.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--scenario", choices=["backfill", "nightly"])
    args = parser.parse_args()
    if args.scenario:
        run_scenario(args.warehouse, args.scenario)
        return
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copy(args.warehouse, copy)
        for scenario in ("backfill", "nightly"):
            subprocess.run(
                [sys.executable, __file__, "--warehouse", str(copy), "--scenario", scenario],
                check=True,
                cwd=ROOT,
            )


if __name__ == "__main__":
    main()
