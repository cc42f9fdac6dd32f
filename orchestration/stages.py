"""Materialising a range of days from the command line, in stages.

A ranged run that mixes partitioned and unpartitioned assets makes Dagster record a planned
event for every asset and every day of the range, unpartitioned assets included (for two years
and 28 assets, some 20,000 events before any work starts). Running the graph in stages that
alternate between partitioned assets (given the range) and unpartitioned ones (run once)
records events only for the assets that really have partitions.

SIGTERM (``timeout``, a service manager) and SIGINT (Ctrl-C) stop a ranged run for good: Dagster
interrupts the current step (its DuckDB transaction rolls back, dbt gets SIGINT), and
``StopSignals``' hook ends the run before a retry or a further step, and no further stage starts.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A stop signal ended the work; like Ctrl-C's KeyboardInterrupt, no ``except Exception``
    swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class StopSignals:
    """Within the ``with`` block, SIGTERM and SIGINT stop the work.

    Outside a Dagster run they raise Stopped at once. Inside one, Dagster owns the handlers: it
    interrupts the step in progress, but treats the interrupt like any failure and retries the
    step under the job's retry policy. Python also writes every signal's number to a wake-up
    pipe, whatever the handler, so ``hook()`` sees the signal after the step and ends the run
    there; ``run_range`` then starts no further stage.
    """

    def __init__(self) -> None:
        self._signals: list[int] = []
        self._pipe: tuple[int, int] | None = None
        self._previous: tuple[int, dict[int, object]] | None = None

    def __enter__(self) -> StopSignals:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._pipe = (read, write)
        handlers = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        # One handler for both: Dagster restores SIGTERM to whatever SIGINT had.
        for s in STOP_SIGNALS:
            signal.signal(s, self._raise)
        self._previous = (signal.set_wakeup_fd(write, warn_on_full_buffer=False), handlers)
        return self

    def __exit__(self, *exc: object) -> None:
        wakeup, handlers = self._previous
        signal.set_wakeup_fd(wakeup)
        for s, handler in handlers.items():
            signal.signal(s, handler)
        for fd in self._pipe:
            os.close(fd)

    def _raise(self, signum: int, frame: object) -> None:
        raise Stopped(signum)

    def received(self) -> int | None:
        """The first stop signal received so far, or None."""
        while True:
            try:
                data = os.read(self._pipe[0], 512)
            except BlockingIOError:
                break
            if not data:
                break
            self._signals += [n for n in data if n in STOP_SIGNALS]
        return self._signals[0] if self._signals else None

    def check(self) -> None:
        """Raise Stopped if a stop signal was received."""
        signum = self.received()
        if signum is not None:
            raise Stopped(signum)

    def hook(self) -> dg.HookDefinition:
        """A hook for every step: after a step during which a stop signal arrived, end the run
        (a retry or the next step would start otherwise)."""

        def stop_after_step(context: dg.HookContext, events: list) -> dg.HookExecutionResult:
            self.check()
            return dg.HookExecutionResult(hook_name="weixi_stop_on_signal", is_skipped=True)

        return dg.HookDefinition(name="weixi_stop_on_signal", hook_fn=stop_after_step)


@dataclass(frozen=True)
class Stage:
    """Assets that run together: all partitioned (over the range) or all unpartitioned."""

    partitioned: bool
    keys: tuple[dg.AssetKey, ...]


def with_ancestors(graph: AssetGraph, targets: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """``targets`` and every asset they depend on, directly or not."""
    found, todo = set(), list(targets)
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            todo += graph.get(key).parent_keys
    return found


def plan_stages(graph: AssetGraph, up_to: Iterable[dg.AssetKey] = ()) -> list[Stage]:
    """Split the materialisable assets of ``graph`` (or only those that ``up_to`` needs, with
    ``up_to`` itself) into the fewest stages, in dependency order, such that each stage is all
    partitioned or all unpartitioned.

    An asset's stage number is even when it is partitioned and odd when not, and at least that
    of each parent; it goes up by one wherever the kind changes along an edge.
    """
    targets = tuple(up_to)
    wanted = with_ancestors(graph, targets) if targets else None
    level: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable or (wanted is not None and key not in wanted):
            continue
        parity = 0 if node.partitions_def is not None else 1
        floor = max((level[p] for p in node.parent_keys if p in level), default=0)
        level[key] = floor if floor % 2 == parity else floor + 1
    stages = []
    for number in sorted(set(level.values())):
        keys = tuple(sorted(k for k, n in level.items() if n == number))
        stages.append(Stage(partitioned=number % 2 == 0, keys=keys))
    return stages


def run_range(
    definitions: dg.Definitions,
    start: date,
    end: date,
    instance: dg.DagsterInstance,
    job_name: str | None = None,
    raise_on_error: bool = False,
    stop: StopSignals | None = None,
    up_to: Iterable[dg.AssetKey] = (),
) -> Iterator[dg.ExecuteInProcessResult]:
    """Run every stage for the days ``start``..``end``, one in-process run per stage of the job
    ``job_name`` (default: all assets; with ``up_to``, only those assets and what they need),
    stopping after the first run that fails. Yields each run's result.

    With ``stop`` (entered), a stop signal ends the stage's run after the step it interrupted
    and raises Stopped instead of starting another stage."""
    job = (
        definitions.resolve_job_def(job_name)
        if job_name
        else definitions.resolve_implicit_global_asset_job_def()
    )
    if stop is not None:
        job = job.with_hooks({stop.hook()})
    for stage in plan_stages(definitions.resolve_asset_graph(), up_to):
        tags = (
            {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
            if stage.partitioned
            else {}
        )
        try:
            result = job.execute_in_process(
                asset_selection=list(stage.keys),
                instance=instance,
                tags=tags,
                raise_on_error=raise_on_error,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            if stop is not None:
                stop.check()
            raise
        if stop is not None:
            stop.check()
        yield result
        if not result.success:
            return
