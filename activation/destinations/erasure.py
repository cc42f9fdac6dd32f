"""Right to be forgotten on disk: earlier export files rewritten without erased customers.

A file names a customer by an id column (every format's customer id column, the task lists'
``customer_id``) or, in ad audiences, only by hashes of their identifiers; rows matching either
are dropped and the file is rewritten atomically. Files without such rows are left untouched.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pandas as pd

from activation.audience_definitions import TASK
from activation.destinations.formats import read_file, spreadsheet_cell, write_file
from warehouse.table_spec import SpecColumn, TableSpec

ID_COLUMNS = ("customer_id", "Customer ID")
SUFFIXES = (".csv", ".parquet")
TASK_LISTS = "account_managers"
REMOVE_FILES = ".remove.csv"
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


def files_to_check(
    root: Path, memberships: pd.DataFrame | None, history_dates: Iterable[date] | None
) -> list[Path]:
    """The export files under ``root`` that may hold the customers whose audience history is
    ``memberships`` (``audience_date``, ``audience``, ``kind``), when ``history_dates`` are
    the dates the history holds: in a date folder of the history, the files of the audiences
    they were members of that day (every destination), that day's task lists when one of
    those was a task audience, and the remove files of every audience they were ever in;
    every file of any other folder (before the history, or of another kind). Without a
    history (``None``), every file: the history is the index, so a night costs the files of
    the erased customers' days instead of every export ever written."""
    if not root.exists():
        return []
    if memberships is None or history_dates is None:
        return _every_file(root)
    known = {d.isoformat() for d in pd.to_datetime(pd.Series(list(history_dates))).dt.date}
    days = pd.to_datetime(memberships["audience_date"]).dt.date.map(date.isoformat)
    member_of = memberships.assign(day=days.to_numpy()).groupby("day")
    ever = sorted(set(memberships["audience"]))
    found: set[Path] = set()
    for folder in (p for p in root.iterdir() if p.is_dir()):
        if folder.name not in known:
            found.update(_every_file(folder))
            continue
        patterns = [f"*/{glob.escape(a)}{REMOVE_FILES}" for a in ever]
        if folder.name in member_of.groups:
            day = member_of.get_group(folder.name)
            patterns += [f"*/{glob.escape(a)}.*" for a in sorted(set(day["audience"]))]
            if (day["kind"] == TASK).any():
                patterns.append(f"{TASK_LISTS}/*")
        found.update(p for pattern in patterns for p in folder.glob(pattern))
    return sorted(p for p in found if p.is_file() and p.suffix in SUFFIXES)


def _every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def rewrite_without(
    root: Path,
    customer_ids: Iterable[str],
    hashes: Iterable[str] = (),
    files: Iterable[Path] | None = None,
) -> list[Path]:
    """Drop the rows of ``customer_ids`` (or carrying one of ``hashes``) from ``files`` (by
    default every CSV and Parquet file under ``root``); returns the files rewritten."""
    ids, digests = set(customer_ids), set(hashes)
    # CSV files hold ids as made spreadsheet-safe (a leading quote before `=`, `+`, ...).
    ids |= {spreadsheet_cell(i) for i in ids}
    if not root.exists() or not (ids or digests):
        return []
    rewritten = []
    for path in _every_file(root) if files is None else files:
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
