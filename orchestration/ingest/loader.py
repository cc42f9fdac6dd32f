"""Load a source's daily deliveries into DuckDB raw tables, one transaction per call.

Loading a range of days first deletes every row of those days (raw rows, quarantined rows and
load records), then inserts what the landing folder holds now, all in one transaction: a re-run
gives the same tables, a corrected re-delivery replaces the day, and a failure leaves the
warehouse as it was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.contract import DUCKDB_TYPES, LINEAGE_COLUMNS, Entity, Source
from orchestration.ingest.reading import DeliveryError, read_delivery_file
from orchestration.ingest.validation import validation_sql

QUARANTINE_TABLE = "raw._quarantine"
LOADS_TABLE = "raw._loads"

_QUARANTINE_COLUMNS = {
    "source": "varchar",
    "entity": "varchar",
    "_partition_date": "date",
    "_file": "varchar",
    "_row_number": "bigint",
    "reason": "varchar",
    "record": "varchar",
    "_load_id": "varchar",
    "_loaded_at": "timestamp",
}
_LOADS_COLUMNS = {
    "load_id": "varchar",
    "source": "varchar",
    "entity": "varchar",
    "partition_date": "date",
    "files": "bigint",
    "rows_read": "bigint",
    "rows_loaded": "bigint",
    "rows_quarantined": "bigint",
    "extra_columns": "varchar",
    "loaded_at": "timestamp",
}


@dataclass
class EntityLoad:
    """What one entity's files of one day gave."""

    entity: str
    partition_date: date
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    extra_columns: set[str] = field(default_factory=set)


@dataclass
class SourceLoadReport:
    """What loading a source over a range of days gave, for asset metadata and the CLI."""

    source: str
    start: date
    end: date
    loads: list[EntityLoad] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    unrecognised_files: list[str] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(load, attribute) for load in self.loads)

    @property
    def total_files(self) -> int:
        return sum(len(load.files) for load in self.loads)

    def by_entity(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for load in self.loads:
            row = out.setdefault(
                load.entity, {"files": 0, "rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0}
            )
            row["files"] += len(load.files)
            row["rows_read"] += load.rows_read
            row["rows_loaded"] += load.rows_loaded
            row["rows_quarantined"] += load.rows_quarantined
        return out

    @property
    def extra_columns(self) -> list[str]:
        return sorted({f"{load.entity}.{c}" for load in self.loads for c in load.extra_columns})


def _create_table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    ddl = ", ".join(f'"{name}" {type_}' for name, type_ in columns.items())
    con.execute(f"create table if not exists {table} ({ddl})")
    existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    # Columns added to the contract later are added to tables created before them.
    for name, type_ in columns.items():
        if name not in existing:
            con.execute(f'alter table {table} add column "{name}" {type_}')


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, sources: tuple[Source, ...]) -> None:
    """Create the raw schema, one table per source entity, the quarantine and the load log."""
    con.execute("create schema if not exists raw")
    for source in sources:
        for entity in source.entities:
            columns = {c.name: DUCKDB_TYPES[c.type] for c in entity.columns}
            _create_table(con, source.raw_table(entity), columns | LINEAGE_COLUMNS)
    _create_table(con, QUARANTINE_TABLE, _QUARANTINE_COLUMNS)
    _create_table(con, LOADS_TABLE, _LOADS_COLUMNS)


BATCH_ROWS = 200_000
"""Rows read before they are validated and written: DuckDB's cost per statement, not per row,
dominates when a backfill reads thousands of small daily files, so files are written in
batches."""


class _EntityBatch:
    """Files of one entity that were read but not yet validated and written."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: Source,
        entity: Entity,
        load_id: str,
        loaded_at: datetime,
        report: SourceLoadReport,
    ) -> None:
        self.con, self.source, self.entity = con, source, entity
        self.load_id, self.loaded_at, self.report = load_id, loaded_at, report
        self.columns: dict[str, list] = self._empty()
        self.loads: dict[date, EntityLoad] = {}

    def _empty(self) -> dict[str, list]:
        return {
            name: []
            for name in (*self.entity.column_names, "_row_number", "_partition_date", "_file")
        }

    def add(self, path: Path, relative: str, load: EntityLoad) -> None:
        read = read_delivery_file(path, self.entity)
        day = load.partition_date
        load.files.append(relative)
        load.rows_read += read.rows_read
        load.rows_quarantined += len(read.rejects)
        load.extra_columns.update(read.extra_columns)
        self.loads[day] = load
        if read.rejects:
            self._quarantine(
                [(day, relative, row, reason, record) for row, reason, record in read.rejects]
            )
        rows = len(read.row_numbers)
        for name, values in read.columns.items():
            self.columns[name].extend(values)
        self.columns["_row_number"].extend(read.row_numbers)
        self.columns["_partition_date"].extend([day] * rows)
        self.columns["_file"].extend([relative] * rows)
        if len(self.columns["_file"]) >= BATCH_ROWS:
            self.flush()

    def _quarantine(self, rows: list[tuple]) -> None:
        self.con.executemany(
            f"insert into {QUARANTINE_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [self.source.name, self.entity.name, *row, self.load_id, self.loaded_at]
                for row in rows
            ],
        )
        for *_, reason, _ in rows:
            self._count(reason)

    def _count(self, reason: str, n: int = 1) -> None:
        for part in reason.split("; "):
            self.report.reasons[f"{self.entity.name}: {_rule(part)}"] += n

    def flush(self) -> None:
        if not self.columns["_file"]:
            return
        con = self.con
        types = {"_row_number": pa.int64(), "_partition_date": pa.date32()}
        delivered = pa.table(
            {
                name: pa.array(values, types.get(name, pa.string()))
                for name, values in self.columns.items()
            }
        )
        self.columns = self._empty()
        con.register("_delivered", delivered)
        try:
            sql = validation_sql(self.entity, "_delivered", ("_partition_date", "_file"))
            con.execute(f"create or replace temp table _validated as {sql}")
        finally:
            con.unregister("_delivered")
        con.execute(
            f"""insert into {self.source.raw_table(self.entity)} by name
            select * exclude (_reason, _record), ? as _load_id, ? as _loaded_at
            from _validated where _reason = ''""",
            [self.load_id, self.loaded_at],
        )
        con.execute(
            f"""insert into {QUARANTINE_TABLE}
            select ?, ?, _partition_date, _file, _row_number, _reason, _record, ?, ?
            from _validated where _reason <> ''""",
            [self.source.name, self.entity.name, self.load_id, self.loaded_at],
        )
        bad_by_day = con.execute(
            "select _partition_date, count(*) from _validated where _reason <> '' group by all"
        ).fetchall()
        for day, n in bad_by_day:
            self.loads[day].rows_quarantined += n
        reasons = con.execute(
            "select part, count(*) from (select unnest(string_split(_reason, '; ')) as part "
            "from _validated where _reason <> '') group by all"
        ).fetchall()
        for reason, n in reasons:
            self._count(reason, n)
        con.execute("drop table _validated")


def _rule(reason: str) -> str:
    """A reason without the offending value, so that equal rules count together."""
    return re.sub(r"'[^']*'", "'…'", reason)


def load_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    landing: Path,
    start: date,
    end: date,
    load_id: str,
    progress: Callable[[date, int], None] | None = None,
) -> SourceLoadReport:
    """Replace ``source``'s rows for the days ``start``..``end`` with what ``landing`` holds.

    ``progress`` is called after each day with the day and the rows read so far.

    Raises DeliveryError, leaving the warehouse unchanged, when a file cannot be loaded at all.
    """
    ensure_raw_tables(con, (source,))
    report = SourceLoadReport(source.name, start, end)
    loaded_at = datetime.now().replace(microsecond=0)
    con.begin()
    try:
        for entity in source.entities:
            con.execute(
                f"delete from {source.raw_table(entity)} where _partition_date between ? and ?",
                [start, end],
            )
        for table in (QUARANTINE_TABLE, LOADS_TABLE):
            date_column = "partition_date" if table == LOADS_TABLE else "_partition_date"
            con.execute(
                f"delete from {table} where source = ? and {date_column} between ? and ?",
                [source.name, start, end],
            )
        batches = [
            _EntityBatch(con, source, entity, load_id, loaded_at, report)
            for entity in source.entities
        ]
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            folder = landing / source.name / day.isoformat()
            known: set[Path] = set()
            for batch in batches:
                load = EntityLoad(batch.entity.name, day)
                for path in sorted(folder.glob(batch.entity.file_glob)):
                    known.add(path)
                    batch.add(path, path.relative_to(landing).as_posix(), load)
                report.loads.append(load)
            if folder.is_dir():
                report.unrecognised_files += [
                    p.relative_to(landing).as_posix()
                    for p in sorted(folder.iterdir())
                    if p not in known
                ]
            if progress is not None:
                progress(day, report.total("rows_read"))
        for batch in batches:
            batch.flush()
        for load in report.loads:
            load.rows_loaded = load.rows_read - load.rows_quarantined
        con.executemany(
            f"insert into {LOADS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    load_id,
                    source.name,
                    load.entity,
                    load.partition_date,
                    len(load.files),
                    load.rows_read,
                    load.rows_loaded,
                    load.rows_quarantined,
                    ",".join(sorted(load.extra_columns)) or None,
                    loaded_at,
                ]
                for load in report.loads
            ],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return report


__all__ = ["DeliveryError", "SourceLoadReport", "ensure_raw_tables", "load_source"]
