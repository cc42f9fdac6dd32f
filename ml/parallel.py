"""scikit-learn's OpenMP code (the gradient-boosted trees) runs on one thread in Weixi.

Measured on the 2-core reference machine while other work ran on it: fitting the trees on
400,000 rows took 25 s on one thread and 142 s on two, and scoring 300,000 customers with
reasons 12 s against 33 s. Every boosting iteration synchronises its threads, a thread waiting
for a busy core stalls the others, and idle OpenMP threads keep spinning while the Python code
between two predictions runs. The nightly run shares its machine with DuckDB and Dagster, so
the one-thread figures are the ones to plan with; on an idle machine two threads would gain
less than half.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits


def single_threaded() -> AbstractContextManager:
    """A context in which OpenMP code uses one thread."""
    return threadpool_limits(limits=1, user_api="openmp")
