"""How long the sentiment model takes to train and to score texts, and how much memory it
needs, at the text volumes of a shop with a given number of customers.

    python benchmarks/bench_sentiment.py --customers 100000 1000000

The demo shop writes about 0.8 rated texts (reviews, CSAT comments) and 2 texts in all (posts,
ticket descriptions, survey comments) per customer over two years. The benchmark makes that
many texts from the demo generator's Chinese and English templates and appends a random
four-character phrase and a number to each, so every text is distinct (real texts rarely
repeat, and only distinct texts are scored). Each size runs in a child process, so its peak
memory is its own. Prints training seconds (the held-out validation fit plus the final fit),
scoring seconds and texts per second, and peak memory; wall-clock seconds with the process's
CPU seconds beside them, which show the cost when other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo_data import texts  # noqa: E402
from demo_data.catalogue import (  # noqa: E402
    SUBCATEGORY_NOUNS_EN,
    SUBCATEGORY_NOUNS_ZH,
)
from demo_data.social import RATING_RANGE  # noqa: E402
from ml.sentiment import fit_sentiment_model, validate_sentiment_model  # noqa: E402

RATED_PER_CUSTOMER = 0.8
TEXTS_PER_CUSTOMER = 2.0
FILLER = np.array(
    list("的了是我不在有这个们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可")
)


def distinct_texts(n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct review texts in Chinese and English with their star ratings."""
    rng = np.random.default_rng(seed)
    theme = rng.integers(0, len(texts.THEMES), n)
    language = (rng.random(n) < 0.3).astype(np.int64)
    noun_index = rng.integers(0, len(SUBCATEGORY_NOUNS_ZH), n)
    noun = pc.if_else(
        pa.array(language == texts.EN),
        pa.array(np.asarray(SUBCATEGORY_NOUNS_EN)[noun_index]),
        pa.array(np.asarray(SUBCATEGORY_NOUNS_ZH)[noun_index]),
    )
    filler = ["".join(chars) for chars in rng.choice(FILLER, (n, 4))]
    text = (
        pd.Series(texts.post_texts(rng, theme, language, noun).to_pylist())
        + " "
        + pd.Series(filler)
        + pd.Series(np.arange(n).astype(str))
    )
    low = np.array([RATING_RANGE[t][0] for t in texts.THEMES])[theme]
    high = np.array([RATING_RANGE[t][1] for t in texts.THEMES])[theme]
    stars = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    return pd.DataFrame({"text": text, "stars": stars.astype(float), "weight": 1.0})


def run(customers: int) -> dict[str, float]:
    """Train and score at the volumes of ``customers``; the figures of the run."""
    labelled = distinct_texts(int(customers * RATED_PER_CUSTOMER), seed=1).assign(source="review")
    scored = distinct_texts(int(customers * TEXTS_PER_CUSTOMER), seed=2)["text"]
    started, started_cpu = time.perf_counter(), time.process_time()
    validation = validate_sentiment_model(labelled)
    model = fit_sentiment_model(labelled)
    trained, trained_cpu = time.perf_counter(), time.process_time()
    scores = model.score(scored)
    done, done_cpu = time.perf_counter(), time.process_time()
    return {
        "customers": customers,
        "training_texts": len(labelled),
        "scored_texts": len(scores),
        "train_s": trained - started,
        "train_cpu_s": trained_cpu - started_cpu,
        "score_s": done - trained,
        "score_cpu_s": done_cpu - trained_cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "macro_f1": validation.macro_f1,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.one)))
        return
    print(
        f"{'customers':>10} {'train texts':>12} {'train s':>8} {'(cpu)':>6} {'scored texts':>13} "
        f"{'score s':>8} {'(cpu)':>6} {'texts/s':>9} {'peak MiB':>9} {'macro-F1':>9}"
    )
    for customers in args.customers:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(customers)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{r['customers']:>10,} {r['training_texts']:>12,} {r['train_s']:>8.1f} "
            f"{r['train_cpu_s']:>6.1f} {r['scored_texts']:>13,} {r['score_s']:>8.1f} "
            f"{r['score_cpu_s']:>6.1f} "
            f"{r['scored_texts'] / r['score_s']:>9,.0f} {r['peak_mib']:>9,.0f} "
            f"{r['macro_f1']:>9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
