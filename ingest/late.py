"""Finding files delivered late: new or changed files in the folders of days already loaded.

A day counts as loaded once ``raw._loads`` holds it for the source, written by a loader that
records files (days loaded before ``raw._files`` existed have no file records to compare with:
they would all look new). Its folder is compared with
``raw._files``: a path not recorded, or a recorded path whose content changed (size or
modification time differ, and then the SHA-256 too), is late. A file that disappeared is not:
landing folders are often archived after loading, and reloading the day would empty it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from ingest.contract import SOURCES
from ingest.landing import day_folder
from ingest.loader import FILES_TABLE, LOADS_TABLE, file_sha256, mtime_utc


@dataclass(frozen=True)
class LateDelivery:
    """A loaded day whose landing folders hold files that were not loaded."""

    day: date
    files: tuple[str, ...]
    """The new or changed files, relative to the landing folder."""
    fingerprint: str
    """SHA-256 over every file of the day as it is now: the same delivery gives the same
    fingerprint, so it triggers one run."""


def _recorded(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int, datetime]]:
    rows = con.execute(f"select file, sha256, bytes, modified_at from {FILES_TABLE}").fetchall()
    return {file: (sha, size, stamp) for file, sha, size, stamp in rows}


def find_late_deliveries(con: duckdb.DuckDBPyConnection, landing: Path) -> list[LateDelivery]:
    """The days already loaded into the warehouse ``con`` for which ``landing`` now holds new
    or changed files, oldest first."""
    tables = {
        name
        for (name,) in con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where database_name = current_database()"
        ).fetchall()
    }
    if not {FILES_TABLE, LOADS_TABLE} <= tables:
        return []
    loaded = con.execute(
        f"select distinct source, partition_date from {LOADS_TABLE} where files_skipped is not null"
    ).fetchall()
    recorded = _recorded(con)
    current: dict[date, list[str]] = defaultdict(list)
    late: dict[date, list[str]] = defaultdict(list)
    sources = {s.name: s for s in SOURCES}
    for source_name, day in sorted(loaded):
        source = sources.get(source_name)
        folder = landing / source_name / day.isoformat()
        if source is None or not folder.is_dir():
            continue
        # A file that is no entity's is late too: the re-run it triggers fails naming it.
        for path in day_folder(folder, source).entries:
            if not path.is_file():
                continue
            relative = path.relative_to(landing).as_posix()
            stat = path.stat()
            known = recorded.get(relative)
            unchanged = known is not None and known[1:] == (
                stat.st_size,
                mtime_utc(stat.st_mtime_ns),
            )
            sha = known[0] if unchanged else file_sha256(path)
            if known is None or known[0] != sha:
                late[day].append(relative)
            current[day].append(f"{relative}:{sha}")
    return [
        LateDelivery(
            day,
            tuple(files),
            hashlib.sha256("\n".join(sorted(current[day])).encode()).hexdigest(),
        )
        for day, files in sorted(late.items())
    ]
