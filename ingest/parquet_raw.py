"""Raw tables as Parquet, one folder per delivery day, for Spark (``WEIXI_ENGINE=spark``).

The loader keeps DuckDB as its engine and its raw tables as its working copy (it reads them to
find repeated keys, re-sent files and rows without a parent). Within each write transaction,
once a batch of days is validated and written to DuckDB, this store writes the same days of
each raw table to Parquet, then DuckDB commits::

    <root>/raw/<source>__<entity>/_partition_date=YYYY-MM-DD/data_0.parquet
    <root>/raw/_quarantine/source=<source>/_partition_date=YYYY-MM-DD/data_0.parquet
    <root>/raw/_loads/source=<source>/data_0.parquet
    <root>/raw/_files/source=<source>/data_0.parquet

Spark reads each table folder as a table partitioned by the folder names. A day is written to a
hidden folder (Spark skips names starting with ``.``) and renamed over its day folder, so a
re-load replaces the day, a day without rows any more loses its folder, and a crash leaves
every other day folder as it was. The loader's log is small (a row per entity and day, a row
per file): each source's is one file, written whole from DuckDB's and renamed over the last.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import duckdb

from ingest.contract import Source
from ingest.log_tables import FILES, LOADS, QUARANTINE

DAY_COLUMN = "_partition_date"
"""The delivery day of a raw or quarantined row: its folder's name, not a column of its files."""
PARQUET_FILE = "data_0.parquet"
"""The name DuckDB gives the one file of a partition folder, and so of a source's log."""


class _Part(Protocol):
    """What one statement writes and the renames that put it in place."""

    home: Path
    """The folder whose entries are replaced: the part is written to a hidden folder in it."""

    def write(self, con: duckdb.DuckDBPyConnection, incoming: Path) -> None: ...

    def moves(self, incoming: Path) -> list[tuple[Path, Path]]: ...


@dataclass(frozen=True)
class _Days:
    """The days ``first``..``last`` of a raw table (or of one source's quarantine), a folder
    each."""

    table: str
    home: Path
    first: date
    last: date
    source: str | None = None
    """The source of the rows, when the table holds every source's (the quarantine)."""

    def write(self, con: duckdb.DuckDBPyConnection, incoming: Path) -> None:
        where, excluded, values = f"{DAY_COLUMN} between ? and ?", "", [self.first, self.last]
        if self.source is not None:
            where, excluded = f"{where} and source = ?", " exclude (source)"
            values.append(self.source)
        con.execute(
            f"copy (select *{excluded} from {self.table} where {where}) to '{incoming}' "
            f"(format parquet, partition_by ({DAY_COLUMN}))",
            values,
        )

    def moves(self, incoming: Path) -> list[tuple[Path, Path]]:
        days = (self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1))
        names = [f"{DAY_COLUMN}={day}" for day in days]
        return [(incoming / name, self.home / name) for name in names]


@dataclass(frozen=True)
class _SourceLog:
    """One source's rows of a log table, as one file in the folder ``source=<name>``."""

    table: str
    home: Path
    source: str

    def write(self, con: duckdb.DuckDBPyConnection, incoming: Path) -> None:
        incoming.mkdir()
        con.execute(
            f"copy (select * exclude (source) from {self.table} where source = ?) "
            f"to '{incoming / PARQUET_FILE}' (format parquet)",
            [self.source],
        )

    def moves(self, incoming: Path) -> list[tuple[Path, Path]]:
        return [(incoming, self.home / f"source={self.source}")]


@dataclass(frozen=True)
class ParquetRawStore:
    """Where the raw tables live as Parquet for Spark (the setting ``spark_raw_root``)."""

    root: Path

    def table_folder(self, table: str) -> Path:
        """The folder of DuckDB table ``raw.<name>``: ``<root>/raw/<name>``."""
        schema, name = table.split(".")
        return self.root / schema / name

    def _log(self, table: str, source: Source) -> _SourceLog:
        return _SourceLog(table, self.table_folder(table), source.name)

    def write_days(
        self, con: duckdb.DuckDBPyConnection, source: Source, first: date, last: date
    ) -> None:
        """Replace the day folders ``first``..``last`` of ``source``'s raw tables and
        quarantine, and its load log, with the rows ``con`` holds (inside the loader's
        transaction, so a failed write rolls the DuckDB days back too)."""
        tables = [source.raw_table(entity) for entity in source.entities]
        quarantine = self.table_folder(QUARANTINE.name) / f"source={source.name}"
        parts: list[_Part] = [
            *(_Days(table, self.table_folder(table), first, last) for table in tables),
            _Days(QUARANTINE.name, quarantine, first, last, source.name),
            self._log(LOADS.name, source),
            self._log(FILES.name, source),
        ]
        _replace(con, parts)

    def write_each_day(
        self, con: duckdb.DuckDBPyConnection, source: Source, days: list[date]
    ) -> None:
        """``write_days`` for each of ``days`` alone (rows changed in place on scattered days,
        as an erasure deletes a customer's rows)."""
        for day in days:
            self.write_days(con, source, day, day)

    def write_load_log(self, con: duckdb.DuckDBPyConnection, source: Source) -> None:
        """Replace ``source``'s ``raw._loads`` file (the loader updates its rows once the
        whole range is loaded: rows without their parent)."""
        _replace(con, [self._log(LOADS.name, source)])


def _replace(con: duckdb.DuckDBPyConnection, parts: list[_Part]) -> None:
    """Write every part to a hidden folder beside what it replaces, then rename each of its
    folders over its place (a day without rows loses its folder). Every part is written before
    anything is replaced: a write that fails leaves every folder as it was."""
    incoming = {}
    try:
        for part in parts:
            part.home.mkdir(parents=True, exist_ok=True)
            incoming[part] = part.home / f".incoming-{uuid.uuid4().hex}"
            part.write(con, incoming[part])
        for part, folder in incoming.items():
            for written, place in part.moves(folder):
                _swap(written, place)
    finally:
        for folder in incoming.values():
            shutil.rmtree(folder, ignore_errors=True)


def _swap(written: Path, place: Path) -> None:
    """Put ``written`` (or nothing, when it does not exist) in the place of ``place``."""
    replaced = place.with_name(f".replaced-{uuid.uuid4().hex}")
    if place.exists():
        place.rename(replaced)
    if written.exists():
        written.rename(place)
    shutil.rmtree(replaced, ignore_errors=True)
