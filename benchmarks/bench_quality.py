"""What the data-quality checks cost: the backfill (every delivered day in one pass per table)
and the nightly run (one day), each in a fresh process as Weixi runs them, on a copy of a
warehouse that `make run` built.

    .venv/bin/python benchmarks/bench_quality.py [--warehouse data/warehouse.duckdb]

Prints seconds per phase: importing Great Expectations, the raw checks of each source
(contract, plausibility, volume), the output-table checks, and building the Data Docs.

    .venv/bin/python benchmarks/bench_quality.py --synthetic 1000000

Times the output-table checks of ``marts.customer_360`` (its rules and its coverage of the CRM
customers) on a synthetic table of that many customers, a few rows planted bad, two ways, each
in a fresh process: as they ran before (the rule columns and the coverage copied into pandas
frames and validated by GX) and as they run now (measured in DuckDB SQL, only the results
handed to GX). Prints wall and CPU seconds and peak memory of each, and whether both found the
same broken rules with the same counts.
"""

from __future__ import annotations

import argparse
import resource
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


def build_synthetic(warehouse: Path, customers: int) -> None:
    """A customer_360-shaped table of ``customers`` rows (a few planted bad) and its CRM
    population, with personal columns the checks must not read."""
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema staging")
        con.execute("create schema marts")
        con.execute(
            "create table staging.stg_crm__customers as "
            f"select printf('C%08d', i) as customer_id from range({customers}) as t(i)"
        )
        con.execute(
            f"""create table marts.customer_360 as select
                printf('C%08d', case when i = 7 then 8 else i end) as customer_id,
                'Name ' || i as full_name,
                'c' || i || '@example.com' as email,
                case when i % 10 = 0 then 'business' else 'consumer' end as customer_type,
                date '2026-11-30' as reference_date,
                (i % 9)::bigint as lifetime_orders,
                (i % 9 * 123.45)::decimal(18, 2) as lifetime_net_revenue,
                case when i = 11 then 'platinum' else ['standard', 'silver', 'gold'][i % 3 + 1]
                    end as membership_tier,
                ['prospect', 'new', 'repeat', 'loyal', 'at_risk', 'churned'][i % 6 + 1]
                    as lifecycle_stage,
                i % 2 = 0 as email_consent, i % 3 = 0 as sms_consent,
                i % 5 = 0 as wechat_consent, i % 7 = 0 as phone_consent,
                case when i = 13 then null else i % 11 = 0 end as marketing_opt_out,
                case when i % 9 = 0 then null else i % 400 end as days_since_last_order,
                i % 2000 as tenure_days, i % 3 as refunds, i % 4 as tickets, i % 2 as complaints,
                case when i = 17 then 6 else i % 5 + 1 end as last_csat,
                i % 11 as last_nps, (i % 5 + 1)::double as avg_rating,
                ((i % 200) - 100) / 100.0 as sentiment_score,
                (i % 700 * 10.0)::decimal(18, 2) as trailing_12m_spend,
                case when i % 4 = 0 then null else (i % 100) / 100.0 end
                    as complaint_first_reply_sla_rate
            from range({customers}) as t(i)"""
        )


def _frames_check(con, entry, docs: Path) -> list:
    """The output-table check as it ran before SQL measures: the rule columns and the coverage
    copied into pandas frames, validated by GX."""
    from data_quality.marts import coverage_rules, table_rules
    from data_quality.table_rules import POPULATIONS
    from data_quality.validation import validate_frame

    columns = ", ".join(f'"{c}"' for c in entry.columns)
    frame = con.execute(f"select {columns} from {entry.table}").df()
    coverage = con.execute(
        f"""select population.customer_id, covered.customer_id is not null as present
        from ({POPULATIONS[entry.population]}) as population
        left join (select distinct customer_id from {entry.table}) as covered
            on covered.customer_id = population.customer_id
        order by population.customer_id"""
    ).df()
    return [
        validate_frame(docs, entry.table, frame, table_rules(entry, set(frame.columns)), "b"),
        validate_frame(docs, entry.coverage_dataset, coverage, coverage_rules(entry), "b"),
    ]


def run_synthetic(warehouse: Path, engine: str) -> None:
    """One way of checking the synthetic customer_360; prints one line of figures and the
    broken rules as ``rule=count`` for the parent to compare."""
    import duckdb

    from data_quality.checks import check_table
    from data_quality.table_rules import MART_RULES

    entry = next(e for e in MART_RULES if e.table == "marts.customer_360")
    docs = Path(tempfile.mkdtemp()) / "docs"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        check_table(con, entry, docs, "warm-up")  # GX's context and suites, paid once per run
        cpu, wall = time.process_time(), time.perf_counter()
        if engine == "sql":
            validations = check_table(con, entry, docs, "b")
        else:
            validations = _frames_check(con, entry, docs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    broken = sorted(f"{r.rule}={r.unexpected}" for v in validations for r in v.failed())
    print(f"{wall:.2f} {cpu:.2f} {peak:.0f} {'|'.join(broken)}")
    shutil.rmtree(docs.parent, ignore_errors=True)


def compare_synthetic(customers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "synthetic.duckdb"
        build_synthetic(warehouse, customers)
        print(f"\noutput-table checks of marts.customer_360, {customers:,} customers:")
        print(f"  {'':<38} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}")
        found = {}
        for engine, label in (
            ("frames", "before: pandas frames + GX"),
            ("sql", "now: DuckDB SQL, results to GX"),
        ):
            out = subprocess.run(
                [sys.executable, __file__, "--synthetic-engine", engine, "--warehouse", warehouse],
                check=True,
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.split("\n")[-2]
            wall, cpu, peak, found[engine] = out.split(" ", 3)
            print(f"  {label:<38} {float(wall):7.2f} {float(cpu):7.2f} {float(peak):9.0f}")
        same = found["frames"] == found["sql"]
        print(f"  same broken rules and counts: {'yes' if same else 'NO'}")
        for rule in found["sql"].split("|"):
            print(f"    {rule}")
        if not same:
            raise SystemExit(f"results differ: {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--scenario", choices=["backfill", "nightly"])
    parser.add_argument("--synthetic", type=int, metavar="CUSTOMERS")
    parser.add_argument("--synthetic-engine", choices=["frames", "sql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        run_scenario(args.warehouse, args.scenario)
        return
    if args.synthetic_engine:
        run_synthetic(args.warehouse, args.synthetic_engine)
        return
    if args.synthetic:
        compare_synthetic(args.synthetic)
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
