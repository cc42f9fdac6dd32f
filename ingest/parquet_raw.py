"""Raw tables as Parquet, one folder per delivery day, for Spark (``WEIXI_ENGINE=spark``).

The loader keeps DuckDB as its engine and its raw tables as its working copy (it reads them to
find repeated keys, re-sent files and rows without a parent). Within each write transaction,
once a batch of days is validated and written to DuckDB, this store writes the same days of
each raw table to Parquet, then DuckDB commits::

    <root>/raw/<source>__<entity>/_partition_date=YYYY-MM-DD/data_0.parquet
    <root>/raw/_quarantine/_partition_date=YYYY-MM-DD/data_0.parquet
    <root>/raw/_loads/partition_date=YYYY-MM-DD/data_0.parquet
    <root>/raw/_files/partition_date=YYYY-MM-DD/data_0.parquet

Spark reads each table folder as a table partitioned by the folder names. A day is written to a
hidden folder (Spark skips names starting with ``.``) and renamed over its day folder, so a
re-load replaces the day, a day without rows any more loses its folder, and a crash leaves
every other day folder as it was. A day folder of the loader's log tables holds every
source's rows of the day, as DuckDB holds them (writers take turns on the DuckDB file, so a
source's load writes the other sources' committed rows of its days again, unchanged).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from ingest.contract import Source
from ingest.log_tables import FILES, LOADS, QUARANTINE

RAW_DAY_COLUMN = "_partition_date"
"""The delivery day of a raw or quarantined row: its folder name, not a column of its files."""
LOG_DAY_COLUMN = "partition_date"
"""The delivery day of a row of the loader's log (``raw._loads``, ``raw._files``)."""


@dataclass(frozen=True)
class _DayTable:
    """One DuckDB table written as day folders under ``folder``."""

    table: str
    folder: Path
    day_column: str

    def rows(self, first: date, last: date) -> str:
        """The query of the rows of days ``first``..``last``."""
        return (
            f"select * from {self.table} "
            f"where {self.day_column} between date '{first}' and date '{last}'"
        )


@dataclass(frozen=True)
class ParquetRawStore:
    """Where the raw tables live as Parquet for Spark (the setting ``spark_raw_root``)."""

    root: Path

    def table_folder(self, table: str) -> Path:
        """The folder of DuckDB table ``raw.<name>``: ``<root>/raw/<name>``."""
        schema, name = table.split(".")
        return self.root / schema / name

    def _day_table(self, table: str, day_column: str = RAW_DAY_COLUMN) -> _DayTable:
        return _DayTable(table, self.table_folder(table), day_column)

    def write_days(
        self, con: duckdb.DuckDBPyConnection, source: Source, first: date, last: date
    ) -> None:
        """Replace the day folders ``first``..``last`` of ``source``'s raw tables, quarantine
        and load log with the rows ``con`` holds for them (inside the loader's transaction, so
        a failed write rolls the DuckDB days back too)."""
        tables = [self._day_table(source.raw_table(entity)) for entity in source.entities]
        tables += [
            self._day_table(QUARANTINE.name),
            self._day_table(LOADS.name, LOG_DAY_COLUMN),
            self._day_table(FILES.name, LOG_DAY_COLUMN),
        ]
        _replace_days(con, tables, first, last)

    def rewrite(self, con: duckdb.DuckDBPyConnection, source: Source) -> None:
        """Write every day ``source`` has loaded again from ``con``'s tables, after rows were
        changed there in place: an erasure deletes a customer's rows from the raw CRM tables
        and the quarantine, and must reach the Parquet copy too."""
        [(first, last)] = con.execute(
            f"select min({LOG_DAY_COLUMN}), max({LOG_DAY_COLUMN}) from {LOADS.name} "
            "where source = ?",
            [source.name],
        ).fetchall()
        if first is not None:
            self.write_days(con, source, first, last)

    def write_load_log(self, con: duckdb.DuckDBPyConnection, first: date, last: date) -> None:
        """Replace the day folders of ``raw._loads`` (the loader updates its rows once the
        whole range is loaded: rows without their parent)."""
        _replace_days(con, [self._day_table(LOADS.name, LOG_DAY_COLUMN)], first, last)


def _replace_days(
    con: duckdb.DuckDBPyConnection, tables: list[_DayTable], first: date, last: date
) -> None:
    """Write the rows of days ``first``..``last`` of every table as day folders beside the old
    ones, then rename each over its day (a day without rows loses its folder). Every table is
    written before any day is replaced: a write that fails leaves every day folder as it was."""
    incoming = {table: table.folder / f".incoming-{uuid.uuid4().hex}" for table in tables}
    try:
        for table, folder in incoming.items():
            table.folder.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"copy ({table.rows(first, last)}) to '{folder}' "
                f"(format parquet, partition_by ({table.day_column}))"
            )
        for table, folder in incoming.items():
            for offset in range((last - first).days + 1):
                name = f"{table.day_column}={first + timedelta(days=offset)}"
                _swap(folder / name, table.folder / name)
    finally:
        for folder in incoming.values():
            shutil.rmtree(folder, ignore_errors=True)


def _swap(written: Path, day: Path) -> None:
    """Put ``written`` (or nothing, when it does not exist) in the place of ``day``."""
    replaced = day.with_name(f".replaced-{uuid.uuid4().hex}")
    if day.exists():
        day.rename(replaced)
    if written.exists():
        written.rename(day)
    shutil.rmtree(replaced, ignore_errors=True)
