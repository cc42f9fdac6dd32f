"""Right to be forgotten on disk: earlier export files rewritten without erased customers.

A file names a customer by an id column (every format's customer id column, the task lists'
``customer_id``) or, in ad audiences, only by hashes of their identifiers; rows matching either
are dropped and the file is rewritten atomically. Files without such rows are left untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from activation.destinations.formats import read_file, spreadsheet_cell, write_file
from warehouse.table_spec import SpecColumn, TableSpec

ID_COLUMNS = ("customer_id", "Customer ID")
ERASURES_APPLIED = TableSpec(
    name="activation.erasures_applied",
    description="Erased customers whose earlier export files have been rewritten without them, "
    "so the exports folder is scanned once per erasure.",
    grain="One row per erased customer",
    key=("customer_id",),
    columns=(
        SpecColumn("customer_id", "string", "The erased customer."),
        SpecColumn("applied_at", "timestamp", "When their files were rewritten."),
        SpecColumn("files_rewritten", "int64", "Export files rewritten in that run."),
    ),
)


def rewrite_without(
    root: Path, customer_ids: Iterable[str], hashes: Iterable[str] = ()
) -> list[Path]:
    """Drop the rows of ``customer_ids`` (or carrying one of ``hashes``) from every CSV and
    Parquet file under ``root``; returns the files rewritten."""
    ids, digests = set(customer_ids), set(hashes)
    # CSV files hold ids as made spreadsheet-safe (a leading quote before `=`, `+`, ...).
    ids |= {spreadsheet_cell(i) for i in ids}
    if not root.exists() or not (ids or digests):
        return []
    rewritten = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in {".csv", ".parquet"}):
        frame = read_file(path)
        drop = pd.Series(False, index=frame.index)
        for column in frame.columns:
            values = frame[column].astype(str)
            if column in ID_COLUMNS:
                drop |= values.isin(ids)
            elif digests:
                drop |= values.isin(digests)
        if drop.any():
            write_file(frame[~drop], path)
            rewritten.append(path)
    return rewritten
