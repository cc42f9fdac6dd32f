"""dbt's partial parse, kept between the invocations that can reuse it.

dagster-dbt gives every invocation a fresh target folder and copies in the partial-parse file of
`target/`, which the manifest parse (no vars) wrote. dbt throws a partial-parse file away when
the `--vars` or the profile differ from those it was written with, and Weixi always passes vars
(the warehouse, business rules, DuckDB settings): so every `dbt build` re-parsed the whole
project (~4 s of CPU each, several per run). Here each set of vars keeps its own file: the next
invocation with the same vars starts from it and parses only what changed on disk. The run's
partition window is not a var for the same reason (see `window_environment`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
KEPT = 16
"""Files kept (newest first): one per warehouse and settings in use; tests use many."""

WINDOW_VARIABLES = ("WEIXI_DBT_MIN_DATE", "WEIXI_DBT_MAX_DATE")
"""The environment variables `in_partition_window` reads; the macro reads them only while it
runs a model, never while dbt parses, so a new window leaves the partial parse valid."""


def cache_key(variables: str, target: str | None) -> str:
    """The name a partial-parse file of an invocation with ``variables`` (JSON) on the profile
    output ``target`` is kept under (dbt discards a file written for another output)."""
    return hashlib.sha256(f"{target}\n{variables}".encode()).hexdigest()[:16]


def restore(cache: Path, key: str, target: Path) -> None:
    """Start the invocation that writes to ``target`` from the file kept under ``key``."""
    kept = cache / f"{key}.msgpack"
    if kept.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, target / PARTIAL_PARSE_FILE)


def keep(cache: Path, key: str, target: Path) -> None:
    """Keep the partial-parse file the invocation wrote to ``target`` under ``key``; replaced
    atomically, as another process may be reading it."""
    written = target / PARTIAL_PARSE_FILE
    if not written.exists():
        return
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{key}.{uuid.uuid4().hex}.tmp"
    shutil.copyfile(written, partial)
    os.replace(partial, cache / f"{key}.msgpack")
    kept = sorted(cache.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEPT:]:
        old.unlink(missing_ok=True)


@contextmanager
def window_environment(window: tuple[date, date] | None) -> Iterator[None]:
    """The partition window in the environment of the dbt process started inside the block
    (see ``process_environment``)."""
    values = {} if window is None else dict(zip(WINDOW_VARIABLES, window, strict=True))
    with process_environment({name: day.isoformat() for name, day in values.items()}):
        yield


@contextmanager
def process_environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment of the dbt process started inside the block.

    dagster-dbt's `cli()` starts dbt with a copy of `os.environ` and takes no environment of its
    own, so they are set there only while the process starts. Runs in one process execute
    their steps one after the other, so no other step sees them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
