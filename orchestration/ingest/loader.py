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


def _load_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    entity: Entity,
    path: Path,
    relative: str,
    day: date,
    load_id: str,
    loaded_at: datetime,
    load: EntityLoad,
    reasons: Counter[str],
) -> None:
    read = read_delivery_file(path, entity)
    lineage = [day, relative, load_id, loaded_at]
    con.register("_delivered", read.rows)
    try:
        con.execute(
            f"create or replace temp table _validated as {validation_sql(entity, '_delivered')}"
        )
    finally:
        con.unregister("_delivered")
    con.execute(
        f"""insert into {source.raw_table(entity)} by name
        select * exclude (_reason, _record), ? as _partition_date, ? as _file,
               ? as _load_id, ? as _loaded_at
        from _validated where _reason = ''""",
        lineage,
    )
    bad = con.execute(
        "select _row_number, _reason, _record from _validated where _reason <> ''"
    ).fetchall()
    rejected = read.rejects + bad
    if rejected:
        con.executemany(
            f"insert into {QUARANTINE_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [source.name, entity.name, day, relative, row, reason, record, load_id,
                 loaded_at]
                for row, reason, record in rejected
            ],
        )
        for _, reason, _ in rejected:
            for part in reason.split("; "):
                reasons[f"{entity.name}: {_rule(part)}"] += 1
    load.files.append(relative)
    load.rows_read += read.rows_read
    load.rows_quarantined += len(rejected)
    load.rows_loaded += read.rows_read - len(rejected)
    load.extra_columns.update(read.extra_columns)


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
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            folder = landing / source.name / day.isoformat()
            known: set[Path] = set()
            for entity in source.entities:
                load = EntityLoad(entity.name, day)
                for path in sorted(folder.glob(entity.file_glob)):
                    known.add(path)
                    relative = path.relative_to(landing).as_posix()
                    _load_file(con, source, entity, path, relative, day, load_id, loaded_at,
                               load, report.reasons)
                report.loads.append(load)
            if folder.is_dir():
                report.unrecognised_files += [
                    p.relative_to(landing).as_posix()
                    for p in sorted(folder.iterdir())
                    if p not in known
                ]
            if progress is not None:
                progress(day, report.total("rows_read"))
        con.executemany(
            f"insert into {LOADS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [load_id, source.name, load.entity, load.partition_date, len(load.files),
                 load.rows_read, load.rows_loaded, load.rows_quarantined,
                 ",".join(sorted(load.extra_columns)) or None, loaded_at]
                for load in report.loads
            ],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return report


__all__ = ["DeliveryError", "SourceLoadReport", "ensure_raw_tables", "load_source"]
