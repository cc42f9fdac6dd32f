"""Writing generated tables into the landing layout of the contract, one file per source,
entity and day, and the ground truth as Parquet beside them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ingest.contract import SOURCES, Entity, source

from .seasons import Window

TRUTH_FOLDER = "_truth"
"""Ground truth for model builders; the loader reads only the source folders."""
ERASURE_FOLDER = "_erasure_requests"
"""The demo's right-to-be-forgotten requests (demo_data/consent.py)."""
DAY_COLUMN = "_day"
_WRITERS = 2


class NotDemoData(Exception):
    """The output folder holds deliveries that the generator did not write."""


def clear_output(out: Path) -> None:
    """Remove what a previous run wrote (the source folders and the truth), nothing else.

    Raises NotDemoData rather than delete source folders of a landing folder that has no
    ground truth, i.e. real deliveries someone pointed ``--out`` at by mistake."""
    sources = [out / s.name for s in SOURCES if (out / s.name).exists()]
    sources += [out / ERASURE_FOLDER] if (out / ERASURE_FOLDER).exists() else []
    if sources and not (out / TRUTH_FOLDER).exists():
        raise NotDemoData(
            f"{out} already holds deliveries ({', '.join(p.name for p in sources)}) that "
            "`weixi generate` did not write; give an empty or new folder with --out"
        )
    # The request folder goes too: the next generation reuses the customer ids.
    for folder in [s.name for s in SOURCES] + [TRUTH_FOLDER, ERASURE_FOLDER]:
        shutil.rmtree(out / folder, ignore_errors=True)


def _day_slices(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """(day index, rows of that day) for each day with rows, in day order."""
    day = table[DAY_COLUMN].to_numpy()
    if np.any(day[1:] < day[:-1]):
        table = table.take(pc.sort_indices(table, sort_keys=[(DAY_COLUMN, "ascending")]))
        day = table[DAY_COLUMN].to_numpy()
    bounds = list(np.flatnonzero(np.r_[True, day[1:] != day[:-1]])) + [len(day)]
    table = table.drop_columns([DAY_COLUMN])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(day[start]), table.slice(start, stop - start)


def _check_columns(source_name: str, entity: Entity, table: pa.Table) -> None:
    names = tuple(n for n in table.column_names if n != DAY_COLUMN)
    if names != entity.column_names:
        raise ValueError(
            f"generated {source_name}/{entity.name} columns {names} differ from the contract's "
            f"{entity.column_names}"
        )


def _write_csv(path: Path, table: pa.Table) -> None:
    with path.open("wb") as handle:
        handle.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=False))


def _write_jsonl(path: Path, table: pa.Table) -> None:
    as_text = [
        pc.strftime(c, "%Y-%m-%d %H:%M:%S")
        if pa.types.is_timestamp(c.type)
        else pc.cast(c, pa.string())
        if pa.types.is_date(c.type) or pa.types.is_decimal(c.type)
        else c
        for c in table.columns
    ]
    frame = pa.table(as_text, names=table.column_names).to_pandas(types_mapper=pd.ArrowDtype)
    text = frame.to_json(orient="records", lines=True, force_ascii=False)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def write_landing(
    out: Path, tables: dict[tuple[str, str], Callable[[], pa.Table]], window: Window
) -> tuple[dict[str, int], int]:
    """Write each ``(source, entity)`` table (with a ``_day`` column) as
    ``<out>/<source>/<YYYY-MM-DD>/<entity>.<csv|jsonl>``, one file per day that has rows.

    Tables are built by their callables one at a time and dropped once written, so that only
    one large table is in memory. Returns rows written per ``source/entity`` and the number of
    files written."""
    dates = window.dates()
    rows: dict[str, int] = {}
    files = 0
    # Arrow releases the GIL while writing CSV, so two threads keep both cores busy.
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for (source_name, entity_name), build in tables.items():
            entity = next(e for e in source(source_name).entities if e.name == entity_name)
            table = build()
            _check_columns(source_name, entity, table)
            rows[f"{source_name}/{entity_name}"] = table.num_rows
            if table.num_rows == 0:
                continue
            if (
                not 0
                <= pc.min(table[DAY_COLUMN]).as_py()
                <= pc.max(table[DAY_COLUMN]).as_py()
                < window.days
            ):
                raise ValueError(
                    f"generated {source_name}/{entity_name} rows fall outside the "
                    f"window {window.first} .. {window.last}"
                )
            write = _write_csv if entity.format == "csv" else _write_jsonl
            jobs = []
            for day, rows_of_day in _day_slices(table):
                folder = out / source_name / dates[day].isoformat()
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{entity_name}.{entity.format}"
                jobs.append(pool.submit(write, path, rows_of_day))
            for job in jobs:
                job.result()
            files += len(jobs)
            del table, jobs
    return rows, files


def write_truth(out: Path, tables: dict[str, pa.Table]) -> None:
    """Write each truth table as ``<out>/_truth/<name>.parquet``."""
    folder = out / TRUTH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
