"""One writer per warehouse: an exclusive lock on ``<warehouse>.lock`` for a whole run.

DuckDB itself only keeps two processes from holding the file at the same moment; two runs still
interleave their steps, each opening and closing the file in turn. So every run (a `weixi run`
or `weixi backfill` around all its stages, and each Dagster run through the ``Warehouse``
resource) holds this lock from start to end. It is ``flock``-based: the kernel drops it when the
holder exits or crashes, so a stale lock file never blocks anyone. The file says who holds it.

The lock is re-entrant within one process, so the command's lock and the lock of each in-process
run it starts do not wait for each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

_held: dict[Path, int] = {}
"""Lock files this process holds, and how many nested holders share each."""


class WarehouseBusy(Exception):
    """Another process holds the warehouse's writer lock."""


def lock_path(warehouse: Path) -> Path:
    """The lock file of ``warehouse``: ``<warehouse>.lock`` beside it."""
    warehouse = Path(warehouse).resolve()
    return warehouse.with_name(warehouse.name + ".lock")


def describe_holder(path: Path) -> str:
    """Who holds the lock file ``path``, as its holder wrote it: PID, command and start time."""
    try:
        holder = json.loads(Path(path).read_text(encoding="utf-8"))
        return f"PID {holder['pid']} (`{holder['command']}`, started {holder['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        # The holder has the lock but has not written its line yet.
        return "another process (not yet identified)"


def _command_line() -> str:
    words = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else ["python"]
    line = " ".join(words)
    return line if len(line) <= 200 else line[:199] + "…"


@contextmanager
def writer_lock(
    warehouse: Path,
    wait: bool = False,
    command: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the writer lock of ``warehouse`` for the block; yields the lock file's path.

    When another process holds it: raise WarehouseBusy naming the holder, or with ``wait`` call
    ``on_wait`` with the holder and wait until it lets go. ``command`` is what the lock file says
    this process runs (default: its command line)."""
    path = lock_path(warehouse)
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(path)
            if not wait:
                raise WarehouseBusy(
                    f"{Path(warehouse)} is being written by {holder}; one run at a time: wait for "
                    "it to finish, or run again with --wait"
                ) from None
            if on_wait is not None:
                on_wait(f"waiting for {holder} to finish writing {Path(warehouse)}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        holder = {
            "pid": os.getpid(),
            "command": command or _command_line(),
            "started": datetime.now().isoformat(sep=" ", timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        _held[path] = 1
        try:
            yield path
        finally:
            del _held[path]
            # Cleared while still held, so the file never names a process that has let go.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
