"""How many threads scikit-learn's OpenMP code (the gradient-boosted trees) may use.

On small inputs the trees gain nothing from a second thread and lose a lot when the machine is
busy: every boosting iteration synchronises its threads, and a thread that waits for a core
stalls the others (a 5,000-row fit took 1 s on one thread and 11-35 s on two on a loaded
2-core machine). Large inputs use every core.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

SINGLE_THREAD_BELOW_ROWS = 100_000


def tree_threads(rows: int) -> AbstractContextManager:
    """A context in which OpenMP uses one thread for fewer than ``SINGLE_THREAD_BELOW_ROWS``
    rows, and its default (all cores) otherwise."""
    return threadpool_limits(
        limits=1 if rows < SINGLE_THREAD_BELOW_ROWS else None, user_api="openmp"
    )
