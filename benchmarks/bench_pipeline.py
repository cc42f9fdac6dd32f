"""Time the whole pipeline against the floor: generate demo data, then `weixi run` over every
day but the last (the backfill), then `weixi run` of the last day alone (the night after a
loaded history, as the nightly schedule runs it), then the same work as the floor into a second
warehouse (`weixi run --up-to` the customer 360 and RFM marts: load, checks and dbt up to them),
then `benchmarks/floor.py` (that work by hand in DuckDB) on the same landing folder.

Before the night, dbt's partial parse of the shop is prepared as the night before would have left
it (`orchestration/defs/dbt/parse_cache.py`): it belongs to the shop's path, and the copied shop
is at a new one, so the first dbt step would otherwise parse the whole project again (~8 s at any
size), which a shop's nightly run at its fixed path does only after its dbt project changed.

For each size prints, for each of the four: wall seconds, CPU seconds (user + system of the
process and every process it waited for) and peak memory (the largest single process, and the
sum over the process tree sampled twice a second: when it was, and which processes held it),
then Weixi ÷ floor. Several sizes are printed side by side, so growth is visible; nothing is
asserted. Example:
    .venv/bin/python benchmarks/bench_pipeline.py --customers 100000 300000 1000000 --days 730

The floor's CPU moves by about a tenth between runs on a 2-core machine, and the core's with
it, so one pair of runs can put core ÷ floor on either side of a target. ``--repeat N`` runs
the core and the floor N times each, alternating (core, floor, core, floor, ...) so that both
meet the same machine; the figures shown are each one's median run by CPU (the lower middle
one for an even N), and each pair's ratio is printed too.

With --workdir, a size's landing folder left there by an earlier run is reused (generating 1M
customers takes minutes), and the shop as the backfill left it is kept in `backfilled/`; with
--stages naming only some of the four, the others are not run and a night without the backfill
starts from a copy of that kept shop (the backfill at 1M takes half an hour; a change to the
night is measured again without it). The warehouses are otherwise built afresh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from orchestration.cli import landing_dates
from orchestration.settings import shop_environment

WEIXI = str(Path(sys.executable).with_name("weixi"))
FLOOR = str(Path(__file__).with_name("floor.py"))
PAGE = os.sysconf("SC_PAGE_SIZE")
CORE = ("marts/customer_360", "marts/customer_rfm")  # what the floor builds
STAGES = ("backfill", "night", "core", "floor")
PRIME_PARSE = """
import json, shutil, subprocess, uuid
from pathlib import Path
from orchestration.defs.dbt import parse_cache
from orchestration.defs.dbt.resource import PARSE_CACHE, dbt_resource
from orchestration.settings import WeixiSettings

settings = WeixiSettings()
dbt = dbt_resource(settings)
for train_churn in (False, True):
    variables = dbt.vars_for(str(settings.warehouse), train_churn)
    key = parse_cache.cache_key(json.dumps(variables), dbt.target)
    target = Path("target") / f"prime-{uuid.uuid4().hex[:7]}"
    subprocess.run(
        [dbt.dbt_executable, "--quiet", "parse", "--vars", json.dumps(variables),
         "--target", dbt.target, "--target-path", str(target),
         "--profiles-dir", str(dbt.profiles_dir)],
        cwd=dbt.project_dir, check=True,
    )
    parse_cache.keep(PARSE_CACHE, key, Path(dbt.project_dir) / target)
    shutil.rmtree(Path(dbt.project_dir) / target)
"""
"""What the night before leaves of dbt's partial parse for a shop, both with and without the
churn training snapshots (see ``WeixiDbt.vars_for``)."""
FIGURES: tuple[tuple[str, Callable[[Cost], str]], ...] = (
    ("wall s", lambda c: f"{c.wall:,.1f}"),
    ("CPU s", lambda c: f"{c.cpu:,.1f}"),
    ("peak GiB, one process", lambda c: f"{c.max_process_gib:,.2f}"),
    ("peak GiB, all processes", lambda c: f"{c.max_tree_gib:,.2f}"),
)
"""The rows printed for each stage, and how each shows a stage's cost."""


@dataclass(frozen=True)
class Cost:
    """What one command cost, with every process it started."""

    wall: float
    cpu: float
    max_process_gib: float
    max_tree_gib: float
    peak_at: float
    """Seconds from the start to the sampled peak over all processes."""
    peak_processes: str
    """The processes at that peak, largest first (``weixi:123 7.9 GiB, dbt:456 3.1 GiB``)."""


def _tree_rss(root: int) -> dict[str, int]:
    """Resident bytes of ``root`` and each of its descendants now (from /proc), per process
    (``name:pid``)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces; the fields after its closing parenthesis do not.
            head, tail = stat.read_text().rsplit(")", 1)
            parents[int(stat.parent.name)] = int(tail.split()[1])
            names[int(stat.parent.name)] = head.split("(", 1)[1]
        except (OSError, IndexError, ValueError):
            continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    sizes = {}
    for pid in tree:
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        sizes[f"{names.get(pid, '?')}:{pid}"] = rss
    return sizes


def measured(args: list[str], env: dict[str, str]) -> Cost:
    """Run ``args`` to exit 0 and return its wall time, CPU and peak memory."""
    # The writes of the step before (the generator's files, a copied shop) are flushed first,
    # so that writing them back does not compete with the command measured.
    os.sync()
    began = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    peak, peak_at, peak_sizes = 0, 0.0, {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_at, peak_sizes
        while not done.wait(0.5):
            sizes = _tree_rss(process.pid)
            if sum(sizes.values()) > peak:
                peak, peak_at, peak_sizes = sum(sizes.values()), time.monotonic() - began, sizes

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4 gives the child's own usage plus that of every descendant it waited for (dbt).
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - began
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, args)
    max_process = usage.ru_maxrss * 1024  # kilobytes on Linux
    return Cost(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_process_gib=max_process / 2**30,
        max_tree_gib=max(peak, max_process) / 2**30,
        peak_at=peak_at,
        peak_processes=", ".join(
            f"{name} {rss / 2**30:.1f} GiB"
            for name, rss in sorted(peak_sizes.items(), key=lambda item: -item[1])
            if rss >= 2**28
        ),
    )


@dataclass(frozen=True)
class Size:
    """One benchmarked size: its data and what Weixi and the floor cost on it."""

    customers: int
    days: int
    orders: int | None
    order_lines: int | None
    """None when no stage built a warehouse (the floor alone)."""
    generate_seconds: float | None
    """None when the landing folder of an earlier run was reused."""
    backfill: Cost | None
    night: Cost | None
    """Each None when not run (see ``--stages``)."""
    core_runs: tuple[Cost, ...]
    floor_runs: tuple[Cost, ...]
    """Every run of each, in order (``--repeat``; none when not run)."""

    @property
    def core(self) -> Cost | None:
        return _median(self.core_runs)

    @property
    def floor(self) -> Cost | None:
        return _median(self.floor_runs)


def _median(runs: tuple[Cost, ...]) -> Cost | None:
    """The median of ``runs`` by CPU (the lower middle one of an even number)."""
    if not runs:
        return None
    return sorted(runs, key=lambda cost: cost.cpu)[(len(runs) - 1) // 2]


def bench(customers: int, days: int, work: Path, stages: frozenset[str], repeat: int = 1) -> Size:
    """Generate ``customers`` × ``days`` of demo data in ``work`` (or reuse it), then run the
    ``stages`` of Weixi and the floor (the core and the floor ``repeat`` times, alternating)."""
    landing, shop, core_shop = work / "landing", work / "weixi", work / "core"
    backfilled = work / "backfilled"
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "WEIXI_LANDING": str(landing),
    }
    generate_seconds = None
    if not landing.is_dir():
        generate = measured(
            [WEIXI, "generate", "--customers", str(customers), "--days", str(days)], env
        )
        generate_seconds = generate.wall
    for folder in (shop, core_shop):
        shutil.rmtree(folder, ignore_errors=True)
    last = landing_dates(landing)[-1]
    run_env = {**env, **shop_environment(shop)}
    backfill = night = None
    core_runs: list[Cost] = []
    floor_runs: list[Cost] = []
    if "backfill" in stages:
        backfill = measured([WEIXI, "run", "--end", str(last - timedelta(days=1))], run_env)
        shutil.rmtree(backfilled, ignore_errors=True)
        shutil.copytree(shop, backfilled, symlinks=True)
    elif "night" in stages:
        if not backfilled.is_dir():
            raise SystemExit(f"{backfilled} does not exist: run the backfill stage once first")
        shutil.copytree(backfilled, shop, symlinks=True)
    if "night" in stages:
        subprocess.run([sys.executable, "-c", PRIME_PARSE], env=run_env, check=True)
        night = measured([WEIXI, "run", "--start", str(last), "--end", str(last)], run_env)
    core_env = {**env, **shop_environment(core_shop)}
    floor_database = work / "floor.duckdb"
    for run in range(repeat):
        if "core" in stages:
            if run:
                shutil.rmtree(core_shop)
            core_runs.append(
                measured([WEIXI, "run", *(a for m in CORE for a in ("--up-to", m))], core_env)
            )
        if "floor" in stages:
            floor_database.unlink(missing_ok=True)
            floor_runs.append(
                measured(
                    [
                        sys.executable,
                        FLOOR,
                        "--landing",
                        str(landing),
                        "--database",
                        str(floor_database),
                    ],
                    env,
                )
            )
    orders = lines = None
    for counted in (shop, core_shop):
        if (counted / "warehouse.duckdb").exists() and lines is None:
            orders, lines = fact_rows(counted / "warehouse.duckdb")
    return Size(
        customers,
        days,
        orders,
        lines,
        generate_seconds,
        backfill,
        night,
        tuple(core_runs),
        tuple(floor_runs),
    )


def fact_rows(database: Path) -> tuple[int | None, int | None]:
    """The rows of ``fct_orders`` and ``fct_order_lines`` in ``database`` (None for a table it
    lacks: the core builds no order lines)."""
    with duckdb.connect(str(database), read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        return tuple(  # type: ignore[return-value]
            con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            if table in tables
            else None
            for table in ("fct_orders", "fct_order_lines")
        )


def report(sizes: list[Size]) -> str:
    """The sizes side by side, one column each."""
    rows: list[tuple[str, ...]] = [
        ("customers", *(f"{s.customers:,}" for s in sizes)),
        ("days", *(f"{s.days:,}" for s in sizes)),
        ("orders (fct_orders)", *(_count(s.orders) for s in sizes)),
        ("order lines", *(_count(s.order_lines) for s in sizes)),
        (
            "generate wall s",
            *(f"{s.generate_seconds:,.1f}" if s.generate_seconds else "reused" for s in sizes),
        ),
    ]
    for name in STAGES:
        costs = [getattr(s, name) for s in sizes]
        if any(costs):
            rows += [
                (f"{name} {label}", *(shown(c) if c else "—" for c in costs))
                for label, shown in FIGURES
            ]
    for title, name, of in (
        ("core ÷ floor, CPU (target ≤ 2×)", "core", lambda c: c.cpu),
        ("core ÷ floor, wall", "core", lambda c: c.wall),
        ("backfill ÷ floor, CPU", "backfill", lambda c: c.cpu),
    ):
        ratios = [(getattr(s, name), s.floor) for s in sizes]
        if any(weixi and floor for weixi, floor in ratios):
            rows.append(
                (
                    title,
                    *(
                        f"{of(weixi) / of(floor):,.1f}×" if weixi and floor else "—"
                        for weixi, floor in ratios
                    ),
                )
            )
    if any(len(s.core_runs) > 1 or len(s.floor_runs) > 1 for s in sizes):
        rows += [
            (f"{name} CPU s, each run", *(_each(f"{c.cpu:,.1f}" for c in runs) for runs in of))
            for name, of in (
                ("core", [s.core_runs for s in sizes]),
                ("floor", [s.floor_runs for s in sizes]),
            )
        ]
        rows.append(
            (
                "core ÷ floor, CPU, each pair",
                *(
                    _each(
                        f"{c.cpu / f.cpu:,.1f}×"
                        for c, f in zip(s.core_runs, s.floor_runs, strict=False)
                    )
                    for s in sizes
                ),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for name, *values in rows:
        cells = (v.rjust(w) for v, w in zip(values, widths[1:], strict=True))
        lines.append("  ".join([name.ljust(widths[0]), *cells]))
    return "\n".join(lines)


def _each(figures: Iterable[str]) -> str:
    return " ".join(figures) or "—"


def _count(rows: int | None) -> str:
    return "—" if rows is None else f"{rows:,}"


def peaks(size: Size) -> str:
    """Where each command's peak over all processes was: when, and which processes held it."""
    return "\n".join(
        f"{name} peak at {int(cost.peak_at // 60)} min {cost.peak_at % 60:02.0f} s: "
        f"{cost.peak_processes or 'no process over 0.25 GiB'}"
        for name in STAGES
        for cost in [getattr(size, name)]
        if cost
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers",
        type=int,
        nargs="+",
        default=[50_000],
        help="one or more sizes, run in this order (the largest first fails early), printed "
        "smallest first",
    )
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--workdir", type=Path, help="keep data here (default: a temp folder)")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=list(STAGES),
        help="run only these (default: all four); a night without the backfill needs --workdir "
        "holding an earlier run's backfilled/ shop",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the core and the floor this many times each, alternating; the median run of "
        "each is shown, and each pair's ratio",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if "night" in args.stages and "backfill" not in args.stages and not args.workdir:
        parser.error("a night without the backfill needs --workdir (it starts from backfilled/)")

    sizes = []
    for customers in args.customers:
        with tempfile.TemporaryDirectory() as tmp:
            work = (args.workdir or Path(tmp)) / f"{customers}_customers"
            work.mkdir(parents=True, exist_ok=True)
            sizes.append(bench(customers, args.days, work, frozenset(args.stages), args.repeat))
        print(report(sizes[-1:]), flush=True)
        print(peaks(sizes[-1]), flush=True)
        print(flush=True)
    print(
        "backfill: `weixi run --end` the day before the last, every asset (load, checks, dbt, "
        "models, activation, publish); target ≤ 30 min, ≤ 12 GiB over all processes at 1M."
    )
    print("night: `weixi run` of the last day after that history; target ≤ 5 min at 1M.")
    print("core: `weixi run --up-to` the 360 and RFM marts (load, checks, dbt up to them).")
    print("floor: benchmarks/floor.py (read every CSV, latest versions, customer 360, RFM).")
    print(report(sorted(sizes, key=lambda size: size.customers)))


if __name__ == "__main__":
    main()
