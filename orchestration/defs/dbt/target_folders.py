"""The target folder of each dbt invocation, and how many of them stay on disk.

Each `dbt build` of a run writes its manifest, compiled SQL and run results to a folder of its
own, so two steps never overwrite each other's artifacts. Left alone they pile up: four to six
per night at 6 to 9 MB each, gigabytes within a year of nights. The newest are kept for
reading a failed night's compiled SQL and ``run_results.json``; older ones are removed after
each invocation.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

_INVOCATION = re.compile(r"^.+-[0-9a-f]{7}-[0-9a-f]{7}$")
"""``<step>-<run id>-<random>``, as ``invocation_folder`` names them; any other folder of
``target/`` (the partial-parse cache, the docs) is never removed."""


def invocation_folder(step: str, run_id: str) -> Path:
    """The target folder, relative to the dbt project, of an invocation of ``step`` in the run
    ``run_id`` (as dagster-dbt names them)."""
    return Path("target") / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


def prune(target: Path, kept: int) -> list[Path]:
    """Remove all but the ``kept`` newest invocation folders of ``target`` (by modification
    time) and return the removed ones. An invocation still running is among the newest: its
    folder was made after every finished one's."""
    folders = [p for p in target.glob("*-*-*") if p.is_dir() and _INVOCATION.match(p.name)]
    folders.sort(key=_modified, reverse=True)
    removed = folders[kept:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _modified(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile by another run's prune
        return 0.0
