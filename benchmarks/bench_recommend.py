"""How long recommendations take to fit, backtest and score, and how much memory they need, for
synthetic purchase histories with planted structure.

    python benchmarks/bench_recommend.py --customers 100000 1000000

Each size runs in a child process, so its peak memory is its own. Purchases: two years, about
eight purchase days per customer with 2.5 lines each over ``--products`` products in 8
categories; each customer favours a category and a product of it (bought again and again), and
products come in planted pairs added together with probability 0.7, as in the demo data.
Prints one row per size: purchase lines, seconds to fit (matrices, similarity, popularity), to
score every customer, to run the backtest, peak memory, and the backtest's hit rate and
precision against popularity. Wall-clock seconds, with the process's CPU seconds beside them
(they differ when other work shares the machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.recommend import (  # noqa: E402
    Catalogue,
    Purchases,
    backtest,
    item_similarity,
    popularity,
    purchase_matrices,
    recommend,
)

AS_OF = date(2025, 12, 31)
DAYS = 730


def synthetic_purchases(customers: int, products: int, seed: int = 0) -> Purchases:
    """Purchase lines with a favourite category and product per customer and planted pairs."""
    rng = np.random.default_rng(seed)
    per_category = products // 8
    visits = rng.poisson(8, customers) + 1
    customer = np.repeat(np.arange(customers), visits)
    n = len(customer)
    category = rng.integers(0, 8, customers)
    favourite = category * per_category + rng.integers(0, per_category, customers)
    lines = rng.poisson(1.5, n) + 1
    visit = np.repeat(np.arange(n), lines)
    buyer = customer[visit]
    m = len(visit)
    u = rng.random(m)
    product = np.where(
        u < 0.3,
        favourite[buyer],
        np.where(
            u < 0.75,
            category[buyer] * per_category + rng.integers(0, per_category, m),
            rng.integers(0, products, m),
        ),
    )
    day = rng.integers(0, DAYS, n)[visit]
    # Even products bring their odd partner along (the planted pairs).
    partner = (product % 2 == 0) & (rng.random(m) < 0.7)
    product = np.concatenate([product, product[partner] + 1])
    buyer = np.concatenate([buyer, buyer[partner]])
    day = np.concatenate([day, day[partner]])
    frame = pd.DataFrame(
        {
            "customer": buyer,
            "product": np.minimum(product, products - 1),
            "order_date": pd.Timestamp(AS_OF) - pd.to_timedelta(DAYS - 1 - day, unit="D"),
            "lines": 1,
        }
    )
    frame = frame.groupby(["customer", "product", "order_date"], as_index=False)["lines"].sum()
    return Purchases(frame, customers)


def run(customers: int, products: int, k: int) -> dict[str, float]:
    """Generate, fit, score and backtest one size; the figures of the run."""
    history = synthetic_purchases(customers, products)
    rng = np.random.default_rng(1)
    catalogue = Catalogue(
        sellable=rng.random(products) > 0.05, repeatable=np.arange(products) % 2 == 0
    )
    started, started_cpu = time.perf_counter(), time.process_time()
    weighted, bought = purchase_matrices(history, products, AS_OF)
    similarity = item_similarity(bought)
    popular = popularity(history, products, AS_OF)
    fitted, fitted_cpu = time.perf_counter(), time.process_time()
    recs = recommend(weighted, bought, similarity, popular, catalogue, k)
    scored, scored_cpu = time.perf_counter(), time.process_time()
    result = backtest(history, catalogue, AS_OF, k)
    tested = time.perf_counter()
    return {
        "customers": customers,
        "lines": int(history.frame["lines"].sum()),
        "recommendations": len(recs.customer),
        "fit_s": fitted - started,
        "fit_cpu_s": fitted_cpu - started_cpu,
        "score_s": scored - fitted,
        "score_cpu_s": scored_cpu - fitted_cpu,
        "backtest_s": tested - scored,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hit_rate": result.hit_rate,
        "popularity_hit_rate": result.popularity_hit_rate,
        "precision": result.precision,
        "popularity_precision": result.popularity_precision,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--products", type=int, default=304)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.one, args.products, args.k)))
        return
    header = (
        f"{'customers':>10} {'lines':>12} {'fit s':>7} {'(cpu)':>6} {'score s':>8} {'(cpu)':>6} "
        f"{'backtest s':>10} "
        f"{'peak MiB':>9} {'hit rate':>9} {'(popular)':>9} {'prec@k':>7} {'(popular)':>9}"
    )
    print(f"products {args.products}, k {args.k}")
    print(header)
    for customers in args.customers:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(customers), "--products", str(args.products)]
            + ["--k", str(args.k)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{r['customers']:>10,} {r['lines']:>12,} {r['fit_s']:>7.1f} {r['fit_cpu_s']:>6.1f} "
            f"{r['score_s']:>8.1f} {r['score_cpu_s']:>6.1f} "
            f"{r['backtest_s']:>10.1f} {r['peak_mib']:>9,.0f} {r['hit_rate']:>9.3f} "
            f"{r['popularity_hit_rate']:>9.3f} {r['precision']:>7.3f} "
            f"{r['popularity_precision']:>9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
