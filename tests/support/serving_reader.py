"""A BI reader in a loop, as a separate process: opens the serving database read-only, reads the
snapshot and every published table's row count, does the same with the current Parquet folder,
and writes one JSON line per read. Stops when the stop file appears.

    python -m tests.support.serving_reader SERVING_DIR OUT_FILE STOP_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import duckdb

from serving.snapshot import (
    CURRENT,
    PARQUET_FOLDER,
    SERVING_DATABASE,
    SNAPSHOT_TABLE,
    parquet_path,
)


def read_database(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        snapshot = con.execute(
            f"select run_id, table_name, row_count from {SNAPSHOT_TABLE}"
        ).fetchall()
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for _, t, _ in snapshot}
    return {
        "run_id": snapshot[0][0],
        "counts": counts,
        "complete": all(counts[t] == n for _, t, n in snapshot),
    }


def read_parquet(serving: Path) -> dict:
    # Resolve `current` once, so every file of one read comes from the same version.
    folder = Path(os.path.realpath(serving / PARQUET_FOLDER / CURRENT))
    with duckdb.connect() as con:
        snapshot = con.execute(
            "select run_id, table_name, row_count from read_parquet(?)",
            [str(folder / "_snapshot.parquet")],
        ).fetchall()
        counts = {
            t: con.execute(
                "select count(*) from read_parquet(?)", [parquet_path(folder, t)]
            ).fetchone()[0]
            for _, t, _ in snapshot
        }
    return {
        "run_id": snapshot[0][0],
        "counts": counts,
        "complete": all(counts[t] == n for _, t, n in snapshot),
    }


def main(serving: Path, out: Path, stop: Path) -> None:
    with out.open("a") as log:
        while not stop.exists():
            line: dict = {"at": time.time()}
            try:
                line["database"] = read_database(serving / SERVING_DATABASE)
                line["parquet"] = read_parquet(serving)
            except Exception as exc:  # every error is the finding, not a crash
                line["error"] = f"{type(exc).__name__}: {exc}"
            log.write(json.dumps(line) + "\n")
            log.flush()
            time.sleep(0.2)


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
