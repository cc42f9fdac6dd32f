"""Time Weixi's loader against DuckDB's own `read_csv` on one large orders file; prints figures,
asserts nothing. Example (the default file is 2 GB; it is written first, from DuckDB):

    .venv/bin/python benchmarks/bench_load.py --gigabytes 2 --repeat 3

Each measurement runs in a child process of its own, which reports its own wall time, CPU
seconds (user + system, every DuckDB thread included) and peak resident memory
(`resource.getrusage`): (a) DuckDB `read_csv` with type detection into a table of a new
database file, (b) `ingest.loader.load_source` of the same file as one day's orders delivery
into a new warehouse. The loader's connection has Weixi's default DuckDB memory limit
(``--memory-limit``) and the loader lowers it to the load memory limit (``--load-memory-limit``,
Weixi's default), which `read_csv` gets; both get the same threads and spill folder. Then the
loader ÷ read_csv CPU (issue 12's target: ≤ 1.5×, with peak memory ≤ 2 GiB).

On a machine shared with other work one measurement says little, so each is repeated
(``--repeat``, alternating `read_csv` and the loader so that both meet the same load) and the
best and the median are shown, and their ratios: the best is the cost the machine allows, the
median what a run typically sees.

``--data DIR`` keeps the written file in DIR (and reuses it when it is there, of any size), so
that before/after runs read the same bytes. ``--phases`` also prints where the loader's CPU
went (user + system of the whole process, DuckDB's threads included, between the loader's
steps).

``--landing DIR`` instead loads the orders of an existing landing folder (e.g. from `weixi
generate --customers 100000`) over all its days, a child process per run, and prints the same
figures: the `raw/orders` asset's work without Dagster.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from statistics import median

import duckdb

from orchestration.settings import WeixiSettings

SAMPLE_ROWS = 100_000
DAY = date.today() - timedelta(days=1)
"""The delivery day of the generated file: yesterday, so no order is in the future."""


def _orders_query(rows: int) -> str:
    """``rows`` orders of ``DAY`` in the contract's columns, as the demo shop writes them."""
    day = DAY.isoformat()
    return f"""
    select
        'O' || lpad(i::varchar, 11, '0') as order_id,
        case when i % 20 = 0 then '' else 'C' || lpad((i * 7919 % 1000003)::varchar, 8, '0')
            end as customer_id,
        case when i % 20 = 0 then 'guest' || i || '@example.com' else '' end as guest_email,
        case when i % 40 = 0 then '138' || lpad((i % 100000000)::varchar, 8, '0') else '' end
            as guest_phone,
        strftime(timestamp '{day}' + to_seconds(i % 86400), '%Y-%m-%d %H:%M:%S') as ordered_at,
        (['paid', 'shipped', 'cancelled', 'refunded'])[1 + i % 4] as status,
        (['app', 'web', 'mini_program', 'store', 'marketplace'])[1 + i % 5] as channel,
        'CNY' as currency,
        printf('%.2f', 20 + (i % 50000) / 100) as items_amount,
        printf('%.2f', (i % 7) * 1.5) as discount_amount,
        case when i % 3 = 0 then '' else '8.00' end as shipping_amount,
        printf('%.2f', 20 + (i % 50000) / 100 - (i % 7) * 1.5) as total_amount,
        case when i % 4 = 3 then printf('%.2f', 20 + (i % 50000) / 100) else '' end
            as refund_amount,
        strftime(timestamp '{day}' + to_seconds(i % 86400 + 60), '%Y-%m-%d %H:%M:%S')
            as updated_at
    from range({rows}) t(i)"""


def write_orders(path: Path, gigabytes: float) -> int:
    """Write an orders CSV of about ``gigabytes`` to ``path``; returns its rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"copy ({_orders_query(SAMPLE_ROWS)}) to '{path}' (header, quote '\"')")
        rows = int(gigabytes * 2**30 / (path.stat().st_size / SAMPLE_ROWS))
        con.execute(f"copy ({_orders_query(rows)}) to '{path}' (header, quote '\"')")
    return rows


PHASES: tuple[tuple[str | None, str], ...] = (
    (None, "scan_file"),
    (None, "read_csv_header"),
    ("_EntityStage", "prepare"),
    ("_EntityStage", "write"),
    ("_EntityStage", "check_straight_keys"),
    (None, "_count_rows_without_parent"),
    (None, "_warn_case_variants"),
)
"""The steps of ``ingest.loader`` (class, function) whose CPU ``--phases`` reports."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_phases() -> dict[str, float]:
    """Wrap the loader's steps so that each adds its CPU seconds to the returned dict."""
    from ingest import loader

    spent: dict[str, float] = {}
    for class_name, name in PHASES:
        owner = loader if class_name is None else getattr(loader, class_name)
        original = getattr(owner, name)

        def timed(*args, _original=original, _name=name, **kwargs):
            began = _cpu()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0.0) + _cpu() - began

        setattr(owner, name, functools.wraps(original)(timed))
    return spent


def _config(args: argparse.Namespace, spill: Path) -> dict[str, str | int]:
    return {
        "memory_limit": args.memory_limit if args.measure == "loader" else args.load_memory_limit,
        "threads": args.threads,
        "temp_directory": str(spill),
    }


def measure(args: argparse.Namespace) -> None:
    """In the child: do one measurement and print its figures as JSON."""
    work = Path(args.work)
    began = time.monotonic()
    database = work / f"{args.measure}.duckdb"
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database), config=_config(args, work / "spill")) as con:
        if args.measure == "read_csv":
            con.execute(f"create table orders as select * from read_csv('{args.file}')")
            rows = con.execute("select count(*) from orders").fetchall()[0][0]
        else:
            from ingest.contract import ORDERS
            from ingest.loader import load_source

            spent = _time_phases() if args.phases else {}

            landing = Path(args.landing) if args.landing else work / "landing"
            days = sorted(date.fromisoformat(p.name) for p in (landing / "orders").iterdir())
            # What Warehouse.connect(memory_limit=) does for the ingest assets, without
            # importing Dagster, whose import would count as the loader's CPU.
            con.execute("set memory_limit = ?", [args.load_memory_limit])
            report = load_source(con, ORDERS, landing, days[0], days[-1], "bench")
            rows = report.total("rows_loaded")
            bad = report.total("rows_quarantined")
            if bad:
                print(f"loader quarantined {bad:,} rows: {report.reasons.most_common(3)}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "wall": time.monotonic() - began,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_gib": usage.ru_maxrss * 1024 / 2**30,
        "rows": rows,
    }
    if args.measure == "loader" and args.phases:
        figures["phases"] = spent
    print("FIGURES " + json.dumps(figures))


def _child(args: argparse.Namespace, what: str, work: Path, file: Path | None) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        what,
        "--work",
        str(work),
        "--memory-limit",
        args.memory_limit,
        "--load-memory-limit",
        args.load_memory_limit,
        "--threads",
        str(args.threads),
    ]
    if file is not None:
        command += ["--file", str(file)]
    if args.landing:
        command += ["--landing", str(args.landing)]
    if args.phases:
        command.append("--phases")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("FIGURES "):
            return json.loads(line.removeprefix("FIGURES "))
        print(line)
    raise RuntimeError(f"{what}: no figures in {out!r}")


def _show(name: str, f: dict) -> None:
    print(
        f"{name:<10} wall={f['wall']:7.1f} s  cpu={f['cpu']:7.1f} s  "
        f"peak={f['peak_gib']:5.2f} GiB  rows={f['rows']:,}"
    )
    for phase, cpu in f.get("phases", {}).items():
        print(f"    {phase:<28} {cpu:7.1f} CPU-s")


def _summary(runs: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Per measurement, its best run (least CPU) and the median of each figure (peak: the
    highest, as the bound that must hold)."""
    out = {}
    for name, figures in runs.items():
        best = min(figures, key=lambda f: f["cpu"])
        middle = {k: median(f[k] for f in figures) for k in ("wall", "cpu")}
        middle |= {"peak_gib": max(f["peak_gib"] for f in figures), "rows": best["rows"]}
        print(f"{name}, {len(figures)} runs:")
        _show("  best", best)
        _show("  median", middle)
        out[name] = {"best": best, "median": middle}
    return out


def _repeated(args: argparse.Namespace, work: Path, file: Path | None) -> dict[str, list[dict]]:
    """Each measurement ``args.repeat`` times, alternating; each run shown as it ends."""
    names = ("loader",) if file is None else ("read_csv", "loader")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for turn in range(args.repeat):
        for name in names:
            runs[name].append(_child(args, name, work, file))
            _show(f"{name} #{turn + 1}", runs[name][-1])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="size of the orders file")
    defaults = WeixiSettings.model_fields
    parser.add_argument(
        "--memory-limit",
        default=defaults["duckdb_memory_limit"].default,
        help="DuckDB memory_limit of the loader's connection (default: Weixi's)",
    )
    parser.add_argument(
        "--load-memory-limit",
        default=defaults["load_memory_limit"].default,
        help="the loader's memory limit, and read_csv's (default: Weixi's)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--landing", type=Path, help="load this landing folder's orders instead")
    parser.add_argument("--data", type=Path, help="keep (and reuse) the orders file here")
    parser.add_argument("--phases", action="store_true", help="print the loader's CPU by step")
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=("read_csv", "loader"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        if args.landing:
            _summary(_repeated(args, work, None))
            return
        landing = (args.data or work) / "landing"
        kept = sorted((landing / "orders").glob("*/orders.csv")) if args.data else []
        began = time.monotonic()
        if kept:
            file = kept[-1]
            rows = sum(1 for _ in file.open("rb")) - 1
        else:
            file = landing / "orders" / DAY.isoformat() / "orders.csv"
            rows = write_orders(file, args.gigabytes)
        size = file.stat().st_size
        print(
            f"{file}: {size / 2**30:.2f} GiB, {rows:,} rows, "
            f"{'counted' if kept else 'written'} in {time.monotonic() - began:.1f} s; "
            f"DuckDB memory_limit={args.memory_limit}, load memory limit "
            f"{args.load_memory_limit}, threads={args.threads}"
        )
        if args.data:
            args.landing = landing
        summary = _summary(_repeated(args, work, file))
        loader, read_csv = summary["loader"], summary["read_csv"]
        for which in ("best", "median"):
            print(
                f"loader ÷ read_csv, {which}: "
                f"cpu {loader[which]['cpu'] / read_csv[which]['cpu']:.2f}×, "
                f"wall {loader[which]['wall'] / read_csv[which]['wall']:.2f}×"
            )
        print(f"loader peak (highest run) {loader['median']['peak_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
