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

    .venv/bin/python benchmarks/bench_quality.py --synthetic-raw 5000000

The same comparison for the raw checks of a backfill: that many raw order rows over 730
delivery days, a few planted bad, checked as before (days of at most a million rows copied into
pandas frames, each validated by GX, counts added up) and as now (one SQL query per table).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the frame reference lives in tests/support


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


def _frames_check(con, entry) -> list[str]:
    """The output-table check as it ran before SQL measures: the rule columns and the coverage
    copied into pandas frames, validated by GX."""
    from data_quality.marts import coverage_rules, table_rules
    from data_quality.table_rules import POPULATIONS
    from tests.support.gx_frames import validate_frame

    columns = ", ".join(f'"{c}"' for c in entry.columns)
    frame = con.execute(f"select {columns} from {entry.table}").df()
    coverage = con.execute(
        f"""select population.customer_id, covered.customer_id is not null as present
        from ({POPULATIONS[entry.population]}) as population
        left join (select distinct customer_id from {entry.table}) as covered
            on covered.customer_id = population.customer_id
        order by population.customer_id"""
    ).df()
    results = [
        *validate_frame(frame, table_rules(entry, set(frame.columns)), entry.table),
        *validate_frame(coverage, coverage_rules(entry), entry.coverage_dataset),
    ]
    return [f"{r.rule}={r.unexpected}" for r in results if not r.passed]


RAW_DAYS = 730
RAW_NOW = datetime(2026, 12, 1, 9, 0)


def build_raw_orders(warehouse: Path, rows: int) -> None:
    """``rows`` raw order rows over :data:`RAW_DAYS` delivery days ending yesterday, as the
    loader writes them, with six rows planted bad."""
    import duckdb

    from ingest.contract import ORDERS
    from ingest.loader import ensure_raw_tables

    per_day = -(-rows // RAW_DAYS)
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_tables(con, (ORDERS,))
        con.execute(
            f"""insert into raw.orders__orders by name
            with numbered as (
                select i, date '{RAW_NOW.date()}' - {RAW_DAYS} + (i // {per_day})::int as day
                from range({rows}) as t(i)
            )
            select
                printf('O%09d', case when i = 13 then 12 else i end) as order_id,
                printf('C%08d', i % 1000003) as customer_id,
                case when i = 17 then 'not an e-mail'
                    when i % 50 = 0 then 'g' || i || '@example.com' end as guest_email,
                case when i % 70 = 0 then '+86 138 0000 ' || lpad((i % 10000)::varchar, 4, '0')
                    end as guest_phone,
                day + interval (i % 86000) second
                    + case when i = 19 then interval 2 day else interval 0 day end as ordered_at,
                case when i = 7 then 'lost'
                    else ['paid', 'shipped', 'cancelled', 'refunded'][i % 4 + 1] end as status,
                ['app', 'web', 'mini_program', 'store', 'marketplace'][i % 5 + 1] as channel,
                'CNY' as currency,
                (i % 900 + 10)::decimal(18, 2) as items_amount,
                (i % 7)::decimal(18, 2) as discount_amount,
                (i % 3 * 5)::decimal(18, 2) as shipping_amount,
                case when i = 11 then -5 else i % 900 + 10 - i % 7 + i % 3 * 5 end::decimal(18, 2)
                    as total_amount,
                case when i = 23 then 99999 when i % 40 = 0 then 5 end::decimal(18, 2)
                    as refund_amount,
                day + interval (i % 86000) second as updated_at,
                day as _partition_date,
                'orders/' || day || '/orders.csv' as _file,
                i % {per_day} + 1 as _row_number,
                'bench' as _load_id,
                timestamp '{RAW_NOW}' as _loaded_at
            from numbered"""
        )


def _frames_raw_check(con) -> list[str]:
    """The raw checks of orders as they ran before SQL measures: days of at most a million
    rows copied into pandas frames and validated by GX, the counts of a rule added up."""
    from data_quality.raw_rules import raw_relation, raw_rules
    from ingest.contract import ORDERS
    from tests.support.gx_frames import frame_rules, validate_frame

    start, end = con.execute(
        "select min(_partition_date), max(_partition_date) from raw.orders__orders"
    ).fetchone()
    merged: dict[tuple[str, str], list] = {}
    for entity in ORDERS.entities:
        days = con.execute(
            f"select _partition_date, count(*) from {ORDERS.raw_table(entity)} "
            "group by 1 order by 1"
        ).fetchall() or [(start, 0)]
        chunks, first, rows = [], days[0][0], 0
        for day, n in days:
            if rows and rows + n > 1_000_000:
                chunks.append((first, day - timedelta(days=1)))
                first, rows = day, 0
            rows += n
        chunks.append((first, end))
        for chunk_start, chunk_end in chunks:
            frame = con.execute(raw_relation(ORDERS, entity, chunk_start, chunk_end, RAW_NOW)).df()
            rules = frame_rules(raw_rules(ORDERS, entity, set(frame.columns)))
            for result in validate_frame(frame, rules, entity.name):
                seen = merged.setdefault((entity.name, result.rule), [True, 0])
                seen[0] = seen[0] and result.passed
                seen[1] += result.unexpected or 0
    return [f"{rule}={n}" for (_, rule), (passed, n) in merged.items() if not passed]


def _customer_360():
    from data_quality.table_rules import MART_RULES

    return next(e for e in MART_RULES if e.table == "marts.customer_360")


def _sql_check(con, target: str, docs: Path, run_name: str, warm_up: bool = False) -> list:
    """The checks of ``target`` as they run now; the warm-up checks the last day only."""
    from data_quality.checks import check_raw_source, check_table
    from ingest.contract import ORDERS

    if target == "marts":
        return check_table(con, _customer_360(), docs, run_name)
    start, end = con.execute(
        "select min(_partition_date), max(_partition_date) from raw.orders__orders"
    ).fetchone()
    return check_raw_source(con, ORDERS, end if warm_up else start, end, RAW_NOW, docs, run_name)


def run_synthetic(warehouse: Path, engine: str, target: str) -> None:
    """One way of checking the synthetic ``target`` (customer_360 or raw orders); prints one
    line of figures and the broken rules as ``rule=count`` for the parent to compare."""
    import duckdb
    import pandas as pd

    from tests.support.gx_frames import validate_frame

    docs = Path(tempfile.mkdtemp()) / "docs"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        # GX's contexts, paid once per process by either way
        _sql_check(con, target, docs, "warm-up", warm_up=True)
        validate_frame(pd.DataFrame({"warm_up": [1]}), [], "warm-up")
        cpu, wall = time.process_time(), time.perf_counter()
        if engine == "sql":
            validations = _sql_check(con, target, docs, "b")
            broken = [f"{r.rule}={r.unexpected}" for v in validations for r in v.failed()]
        elif target == "raw":
            broken = _frames_raw_check(con)
        else:
            broken = _frames_check(con, _customer_360())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{wall:.2f} {cpu:.2f} {peak:.0f} {'|'.join(sorted(broken))}")
    shutil.rmtree(docs.parent, ignore_errors=True)


def compare_synthetic(size: int, target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "synthetic.duckdb"
        if target == "raw":
            build_raw_orders(warehouse, size)
            print(f"\nraw checks of orders, {size:,} order rows over {RAW_DAYS} days:")
        else:
            build_synthetic(warehouse, size)
            print(f"\noutput-table checks of marts.customer_360, {size:,} customers:")
        print(f"  {'':<38} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}")
        found = {}
        for engine, label in (
            ("frames", "before: pandas frames + GX"),
            ("sql", "now: DuckDB SQL, results to GX"),
        ):
            out = subprocess.run(
                [
                    *(sys.executable, __file__, "--synthetic-engine", engine),
                    *("--target", target, "--warehouse", warehouse),
                ],
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
    parser.add_argument("--synthetic-raw", type=int, metavar="ORDER_ROWS")
    parser.add_argument("--synthetic-engine", choices=["frames", "sql"], help=argparse.SUPPRESS)
    parser.add_argument("--target", choices=["marts", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        run_scenario(args.warehouse, args.scenario)
        return
    if args.synthetic_engine:
        run_synthetic(args.warehouse, args.synthetic_engine, args.target)
        return
    if args.synthetic:
        compare_synthetic(args.synthetic, "marts")
        return
    if args.synthetic_raw:
        compare_synthetic(args.synthetic_raw, "raw")
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
