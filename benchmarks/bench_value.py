"""How long the lifetime-value and persona models take to train and score, and their peak
memory, at a given number of customers.

    python benchmarks/bench_value.py                      # 100,000 and 1,000,000 customers
    python benchmarks/bench_value.py --customers 50000

Purchases are simulated from the BG/NBD and Gamma-Gamma processes (two years, first purchases
spread over them) and persona totals from three planted shopping styles, so no warehouse is
needed. Each size runs in a process of its own, so its peak memory is its own. Prints one
table: seconds per step and the peak resident memory (after simulating the data, and overall).

Training = the holdout test (calibration fit, predictions, figures) + the fit on all data;
scoring = P(alive), expectations, discounted 12-month value and quadrants; persona training =
k by silhouette over 3-6 on a sample, k-means on all, the stability check; persona scoring =
assigning every customer.
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

from ml import bgnbd, gamma_gamma, ltv, personas  # noqa: E402
from ml.ltv_simulation import simulate_transactions  # noqa: E402
from ml.value_matrix import value_quadrants  # noqa: E402

START, END = date(2024, 1, 1), date(2025, 12, 30)
PURCHASES = bgnbd.BgNbdParams(r=0.9, alpha=20.0, a=1.1, b=16.0)
SPEND = gamma_gamma.GammaGammaParams(p=6.0, q=4.0, gamma=150.0)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def persona_totals(customers: int, rng: np.random.Generator) -> pd.DataFrame:
    """Purchase totals of customers in three shopping styles (bargain, premium, middle)."""
    style = rng.integers(0, 3, customers)
    orders = rng.geometric(0.15, customers)
    lines = orders * rng.integers(1, 5, customers)
    discounted = rng.binomial(lines, np.array([0.5, 0.05, 0.2])[style])
    gross = lines * np.exp(np.array([5.0, 6.0, 5.5])[style] + rng.normal(0, 0.3, customers))
    premium = rng.binomial(lines, np.array([0.08, 0.6, 0.25])[style]) / lines
    budget = rng.binomial(lines, np.array([0.6, 0.07, 0.25])[style]) / lines
    discount = gross * discounted / lines * np.array([0.2, 0.1, 0.1])[style]
    return pd.DataFrame(
        {
            "customer_id": np.arange(customers),
            "first_order_date": pd.Timestamp(START)
            + pd.to_timedelta(rng.integers(0, 700, customers), unit="D"),
            "orders": orders,
            "net_revenue": gross - discount,
            "lines": lines,
            "discounted_lines": discounted,
            "gross_amount": gross,
            "discount_amount": discount,
            "line_amount": gross - discount,
            "premium_amount": (gross - discount) * premium,
            "budget_amount": (gross - discount) * budget,
            "categories": np.minimum(lines, rng.integers(1, 8, customers)),
        }
    )


def run_size(customers: int) -> dict[str, float]:
    """Simulate, then time each step at ``customers`` customers (in this process)."""
    rng = np.random.default_rng(42)
    transactions = simulate_transactions(PURCHASES, SPEND, customers, START, END, rng)
    totals = persona_totals(customers, rng)
    figures: dict[str, float] = {
        "customers": customers,
        "purchases": len(transactions),
        "data_mib": _peak_mib(),
    }

    def timed(name: str, step):
        started = time.perf_counter()
        result = step()
        figures[name] = time.perf_counter() - started
        return result

    histories = timed("histories_s", lambda: ltv.purchase_histories(transactions, END))
    days = ltv.holdout_days(histories, END, 365)
    timed("holdout_s", lambda: ltv.holdout_test(transactions, END, days))
    model = timed("fit_s", lambda: ltv.fit_value_model(histories))

    def score() -> None:
        scores = ltv.score_customers(model, histories, 12, 0.1, 90)
        value_quadrants(histories["revenue"], scores["clv"])

    timed("score_s", score)
    features = timed("persona_features_s", lambda: personas.persona_features(totals, END))
    persona_model = timed("persona_fit_s", lambda: personas.fit_personas(features))
    timed("persona_stability_s", lambda: personas.stability(features, persona_model))
    timed("persona_assign_s", lambda: personas.assign_personas(persona_model, features))
    figures["peak_mib"] = _peak_mib()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_size(args.customers[0])))
        return

    rows = []
    for customers in args.customers:
        print(f"{customers:,} customers ...", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--customers", str(customers)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print()
    print(
        "| customers | purchases | histories | LTV training (holdout + fit) | LTV scoring "
        "| persona training | persona scoring | memory after data | peak memory |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ltv_training = r["holdout_s"] + r["fit_s"]
        persona_training = r["persona_features_s"] + r["persona_fit_s"] + r["persona_stability_s"]
        print(
            f"| {r['customers']:,.0f} | {r['purchases']:,.0f} | {r['histories_s']:.1f} s "
            f"| {ltv_training:.1f} s ({r['holdout_s']:.1f} + {r['fit_s']:.1f}) "
            f"| {r['score_s']:.1f} s | {persona_training:.1f} s | {r['persona_assign_s']:.1f} s "
            f"| {r['data_mib']:,.0f} MiB | {r['peak_mib']:,.0f} MiB |"
        )


if __name__ == "__main__":
    main()
