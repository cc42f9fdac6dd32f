"""Load a source's daily deliveries into DuckDB raw tables, committing a bounded batch of days
at a time.

Loading a range of days replaces, batch by batch, every row of those days (raw rows, quarantined
rows, load and file records) with what the landing folder holds now: a re-run gives the same
tables and a corrected re-delivery replaces the day. Each batch of whole days (about
COMMIT_ROWS rows, or one day when a day is larger) is one transaction, so a crash or a bad file
loses at most the batch in flight (the days before it stay loaded, and re-running the range
replaces them again), and the memory a load needs does not grow with the range.

A well-formed CSV file (one line per record) is read once, straight into its raw table, inside
the write transaction, together with the other such files of the batch that share its header
(one `read_csv` over the list of files), and only broken rows are read again for their reasons;
should a key repeat or DuckDB refuse a file, the transaction is rolled back and the files
validated like the staged rows (see _DirectFile). Other files are read (`reading.py`) into
temporary staging tables outside the write transaction: a file DuckDB's CSV reader refuses fails
only its own statement and is read again by the exact path. Validation, the key rules and the
writes then run in DuckDB over the staged days (`row_rules.py`), within DuckDB's memory limit
(it spills to its temporary folder).

Every file is recorded in ``raw._files`` with the SHA-256 of its bytes, so that a file delivered
twice is never counted twice: a copy of a file already in the same day's folder (a re-upload
under another name) is skipped, and a copy of a file loaded for another day (an old export
re-sent as a new day) has every row quarantined, naming the original.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from ingest.contract import DUCKDB_TYPES, LINEAGE_COLUMNS, Entity, Source
from ingest.landing import day_folder, describe_unrecognised, odd_source_entries
from ingest.log_tables import FILES, LOADS, LOG_TABLES, QUARANTINE
from ingest.parquet_raw import ParquetRawStore
from ingest.reading import (
    DeliveryError,
    ExactReader,
    FileScan,
    Header,
    csv_files_query,
    fast_csv_query,
    is_gzip,
    read_csv_header,
    scan_file,
)
from ingest.row_rules import (
    TYPE_CHANGE_MIN_VALUES,
    DeliveryRules,
    changed_type_columns,
    hashes_repeat_sql,
    keys_repeat,
    passing_rows_sql,
    sql_literal,
    validation_sql,
)

QUARANTINE_TABLE = QUARANTINE.name
LOADS_TABLE = LOADS.name
FILES_TABLE = FILES.name

_EPOCH = datetime(1970, 1, 1)
LOADED = "loaded"
SKIPPED_DUPLICATE = "skipped_duplicate"
"""Same bytes as another file of the same day and entity: not read again."""
QUARANTINED_DUPLICATE = "quarantined_duplicate"
"""Same bytes as a file loaded for another day: every row quarantined."""


@dataclass
class DeliveredFile:
    """One file of a day's delivery, as recorded in ``raw._files``."""

    file: str
    """Path relative to the landing folder."""
    sha256: str
    bytes: int
    modified_at: datetime
    """Modification time (UTC) when it was loaded; the late-data sensor compares it."""
    encoding: str | None
    rows_read: int
    status: str
    duplicate_of: str | None = None


def mtime_utc(stat_mtime_ns: int) -> datetime:
    """A file's modification time as the naive UTC timestamp kept in ``raw._files`` (to the
    microsecond, computed exactly so that the late-data sensor can compare it)."""
    return _EPOCH + timedelta(microseconds=stat_mtime_ns // 1000)


def file_sha256(path: Path) -> str:
    """The SHA-256 of the bytes of ``path``, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class EntityLoad:
    """What one entity's files of one day gave."""

    entity: str
    partition_date: date
    delivered: list[DeliveredFile] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    extra_columns: set[str] = field(default_factory=set)
    missing_columns: set[str] = field(default_factory=set)
    rows_without_parent: int | None = None
    """Loaded rows whose parent (an order line's order) is in no delivery loaded so far; None
    for entities without a parent."""

    @property
    def files_read(self) -> list[DeliveredFile]:
        """The files read (skipped duplicates are not)."""
        return [f for f in self.delivered if f.status != SKIPPED_DUPLICATE]

    @property
    def files(self) -> list[str]:
        return [f.file for f in self.files_read]

    @property
    def files_skipped(self) -> int:
        return len(self.delivered) - len(self.files_read)

    @property
    def encodings(self) -> str | None:
        return ",".join(sorted({f.encoding for f in self.files_read if f.encoding})) or None


@dataclass
class SourceLoadReport:
    """What loading a source over a range of days gave, for asset metadata and the CLI."""

    source: str
    start: date
    end: date
    loads: list[EntityLoad] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    """What the person on call should know although the load succeeded: extra or missing
    optional columns, duplicate files, rows whose parent never arrived."""

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

    @property
    def missing_columns(self) -> list[str]:
        return sorted({f"{load.entity}.{c}" for load in self.loads for c in load.missing_columns})

    @property
    def files(self) -> list[DeliveredFile]:
        return [f for load in self.loads for f in load.delivered]


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
    for spec in LOG_TABLES:
        spec.create(con)


COMMIT_ROWS = 1_000_000
"""Rows read before the days holding them are validated, written and committed: DuckDB's cost
per statement and per commit, not per row, dominates when a backfill reads thousands of small
daily files, so days are written in batches, of whole days (keys must be unique within a day).
The orders of 730 days at 1M customers (35.6M rows): 76.5-77.0 CPU-s in batches of 1,000,000
rows against 87.2-93.1 at 500,000 (2,000,000: 75.6-77.2); at 100,000 customers (3.6M rows)
8.8-8.9 against 9.5-9.6. A crash loses about 20 days of a 1M-customer shop's orders."""
DIRECT_READ_BYTES = 64 << 20
"""A CSV file at least this large that cannot go straight to its raw table (see _DirectFile) is
read while validating, like the staged rows, rather than copied into the staging table (which
saves writing its text once); a smaller one is staged."""
LONG_RANGE_DAYS = 31
"""A load of at least this many days counts the rows without a parent by hashes of the keys
(see _count_rows_without_parent)."""

_STAGE_LINEAGE = {
    "_row_number": "bigint",
    "_fast": "boolean",
    "_partition_date": "date",
    "_file": "varchar",
    "_note": "varchar",
}
"""Staged with every row: ``_fast`` rows hold, in ``_row_number``, the offset from their
rowid to their line (DuckDB read them in file order: see ``reading.fast_csv_query``)."""
_REJECT_COLUMNS = {
    "_partition_date": "date",
    "_file": "varchar",
    "_row_number": "bigint",
    "reason": "varchar",
    "record": "varchar",
}


@dataclass
class _FileRead:
    rows_read: int
    rows_rejected: int
    extra_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]


@dataclass(frozen=True)
class _DirectFile:
    """A CSV file that DuckDB reads itself: straight into its raw table or, failing that, while
    validating.

    Every well-formed CSV file (one line per record, not a re-sent copy) goes straight: DuckDB
    reads it into its raw table within the write transaction, keeping only the rows that keep
    every row rule, so the file is parsed, typed and written once. The files of the days in
    flight that share a header go together, in one statement over the list of files (a
    backfill reads thousands of small daily files, and DuckDB's cost per statement dominates
    theirs). Rows left out are named with their reasons by a second pass that keeps only them.
    When a key repeats on a day, DuckDB refuses a file or its records are not one line each, the
    transaction is rolled back and the files are read while validating instead."""

    path: Path
    relative: str
    scan: FileScan
    day: date
    note: str | None
    query: str
    typed_query: str
    """``query`` with the columns DuckDB's reader may type typed (``row_rules.READ_TYPED``)."""
    rows: int
    """Rows it holds if every record is one line: checked once DuckDB has read it."""
    header: Header

    def relation(self, typed: bool = False) -> str:
        """Its rows with the staging table's lineage columns (``typed``: of ``typed_query``)."""
        note = "null::varchar" if self.note is None else sql_literal(self.note)
        return f"""select *, row_number() over () + {self.header.lines} as _row_number,
            date '{self.day.isoformat()}' as _partition_date,
            {sql_literal(self.relative)} as _file, {note} as _note
        from ({self.typed_query if typed else self.query})"""


def _straight_groups(files: list[_DirectFile]) -> list[list[_DirectFile]]:
    """``files`` in groups that one ``read_csv`` can read: the same header and compression."""
    groups: dict[tuple, list[_DirectFile]] = {}
    for file in files:
        groups.setdefault((file.header.present, is_gzip(file.path)), []).append(file)
    return list(groups.values())


def _files_relation(entity: Entity, files: list[_DirectFile], typed: bool = False) -> str:
    """The rows of ``files`` (one group of :func:`_straight_groups`, without a note) with the
    staging table's lineage columns, read by one ``read_csv`` (``typed``: as ``typed_query``)."""
    if len(files) == 1:
        return files[0].relation(typed)
    # DuckDB reads the files in list order, each in file order, so a row's number in the list
    # less the rows of the files before its own gives its line (the counts are checked).
    starts, before = [], 0
    for file in files:
        starts.append(
            f"({sql_literal(str(file.path))}, {before - file.header.lines}, "
            f"date '{file.day.isoformat()}', {sql_literal(file.relative)})"
        )
        before += file.rows
    query = csv_files_query([f.path for f in files], entity, files[0].header, typed)
    return f"""select r.* exclude (_path, _n), r._n - f._start as _row_number,
            f._day as _partition_date, f._relative as _file, null::varchar as _note
        from (select *, row_number() over () as _n from ({query})) r
        join (values {", ".join(starts)}) f(_path, _start, _day, _relative) using (_path)"""


@contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the statements within on one DuckDB thread, restoring the setting after them (not
    within a transaction: DuckDB refuses a setting in one that failed).

    The loader's writes are for one thread: the straight write numbers rows in file order
    (``row_number() over ()``), which DuckDB does on one thread at a time, and given two it
    hands the work back and forth between them. A 2 GB orders file was written straight in
    34.1-34.3 CPU-s and 34.2 s so, against 32.1-32.6 CPU-s and 32.2-32.6 s on one thread."""
    [(threads,)] = con.execute("select current_setting('threads')").fetchall()
    con.execute("set threads = 1")
    try:
        yield
    finally:
        con.execute(f"set threads = {int(threads)}")


class _NotStraight(Exception):
    """A file could not be loaded straight into its raw table (a repeated key, DuckDB refused
    it, or its records are not one line each): the write transaction is rolled back and the
    file read while validating."""

    def __init__(self, stage: _EntityStage, files: list[_DirectFile]) -> None:
        super().__init__(", ".join(f.relative for f in files))
        self.stage, self.files = stage, files


class _EntityStage:
    """Rows of one entity read for the days in flight, in temporary tables (the readable rows as
    text, and the rows that could not be read, with their reason), or to be read by DuckDB while
    validating (large well-formed CSV files)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: Source,
        entity: Entity,
        load: _LoadContext,
    ) -> None:
        self.con, self.source, self.entity, self.load = con, source, entity, load
        self.table = f"_stage_{source.name}__{entity.name}"
        self.rejects_table = f"_rejects_{source.name}__{entity.name}"
        self.validated = f"_validated_{source.name}__{entity.name}"
        self.rows = 0
        self._next_rowid = 0
        self.direct: list[_DirectFile] = []
        self.straight: list[_DirectFile] = []
        """Files to be loaded straight into the raw table (see _DirectFile)."""
        self.loads: dict[date, EntityLoad] = {}
        self.paths: dict[str, Path] = {}
        self._create()

    def _create(self) -> None:
        text = dict.fromkeys(self.entity.column_names, "varchar")
        for table, columns in (
            (self.table, text | _STAGE_LINEAGE),
            (self.rejects_table, _REJECT_COLUMNS),
        ):
            ddl = ", ".join(f'"{name}" {type_}' for name, type_ in columns.items())
            self.con.execute(f"create or replace temp table {table} ({ddl})")
        self.con.execute(f"drop table if exists {self.validated}")
        self.rows, self._next_rowid, self.direct, self.straight = 0, 0, [], []
        self.loads, self.paths = {}, {}

    def drop(self) -> None:
        """Drop the staging tables (the load is over or failed)."""
        for table in (self.table, self.rejects_table, self.validated):
            self.con.execute(f"drop table if exists {table}")

    def add(
        self, path: Path, relative: str, scan: FileScan, load: EntityLoad, note: str | None
    ) -> int:
        """Stage the rows of ``path``; ``note`` (a duplicate delivery) quarantines them all.
        Returns the rows read."""
        day = load.partition_date
        self.loads[day] = load
        self.paths[relative] = path
        read = None
        if self.entity.format == "csv":
            read = self._add_fast(path, relative, scan, day, note)
        if read is None:
            read = self._add_exact(path, relative, scan, day, note)
        self._count_read(load, read)
        return read.rows_read

    @staticmethod
    def _count_read(load: EntityLoad, read: _FileRead) -> None:
        load.rows_read += read.rows_read
        load.rows_quarantined += read.rows_rejected
        load.extra_columns.update(read.extra_columns)
        load.missing_columns.update(read.missing_columns)

    def _add_fast(
        self, path: Path, relative: str, scan: FileScan, day: date, note: str | None
    ) -> _FileRead | None:
        """Stage a CSV file read by DuckDB; None (nothing staged) when it must take the exact
        path."""
        header = read_csv_header(path, self.entity, scan)
        query = fast_csv_query(path, self.entity, scan, header)
        # Row numbers follow the order DuckDB reads rows in, which is the file's only while
        # DuckDB keeps insertion order.
        in_order = self.con.execute("select current_setting('preserve_insertion_order')")
        if not in_order.fetchall()[0][0] or query is None:
            return None
        expected = scan.line_breaks - header.lines
        # Every row of a re-sent file is quarantined: it cannot go straight to the raw table.
        if note is None or scan.bytes >= DIRECT_READ_BYTES:
            typed = fast_csv_query(path, self.entity, scan, header, True)
            direct = _DirectFile(path, relative, scan, day, note, query, typed, expected, header)
            (self.straight if note is None else self.direct).append(direct)
            self.rows += expected
            return _FileRead(expected, 0, header.extra, header.missing)
        first = self._next_rowid
        try:
            self.con.execute(
                f"insert into {self.table} select *, ?, true, ?, ?, ? from ({query})",
                [header.lines + 1 - first, day, relative, note],
            )
        except duckdb.InvalidInputException:
            return None  # a row DuckDB refuses: the statement added nothing
        [(rows, low, high)] = self.con.execute(
            f"select count(*), min(rowid), max(rowid) from {self.table} where rowid >= ?",
            [first],
        ).fetchall()
        if rows:
            self._next_rowid = high + 1
        if rows == expected and (not rows or high - low + 1 == rows):
            self.rows += rows
            return _FileRead(rows, 0, header.extra, header.missing)
        self.con.execute(f"delete from {self.table} where rowid >= ?", [first])
        return None

    def _add_exact(
        self, path: Path, relative: str, scan: FileScan, day: date, note: str | None
    ) -> _FileRead:
        reader = ExactReader(path, self.entity, scan)
        rows = rejected = 0
        for batch in reader.batches():
            if batch.values.num_rows:
                self.con.register("_batch", batch.values)
                try:
                    self.con.execute(
                        f"insert into {self.table} select *, false, ?, ?, ? from _batch",
                        [day, relative, note],
                    )
                finally:
                    self.con.unregister("_batch")
                self.rows += batch.values.num_rows
                self._next_rowid += batch.values.num_rows
            if batch.rejects:
                self._reject(day, relative, note, batch.rejects)
            rows += batch.values.num_rows + len(batch.rejects)
            rejected += len(batch.rejects)
        return _FileRead(rows, rejected, reader.extra_columns, reader.missing_columns)

    def _reject(
        self, day: date, relative: str, note: str | None, rejects: list[tuple[int, str, str]]
    ) -> None:
        reasons = ["; ".join(filter(None, (note, reason))) for _, reason, _ in rejects]
        table = pa.table(
            {
                "_partition_date": pa.array([day] * len(rejects), pa.date32()),
                "_file": pa.array([relative] * len(rejects), pa.string()),
                "_row_number": pa.array([line for line, _, _ in rejects], pa.int64()),
                "reason": pa.array(reasons, pa.string()),
                "record": pa.array([record for _, _, record in rejects], pa.string()),
            }
        )
        self.con.register("_batch_rejects", table)
        try:
            self.con.execute(f"insert into {self.rejects_table} select * from _batch_rejects")
        finally:
            self.con.unregister("_batch_rejects")
        for reason in reasons:
            self._count(reason)

    def _count(self, reason: str, n: int = 1) -> None:
        for part in reason.split("; "):
            self.load.report.reasons[f"{self.entity.name}: {_rule(part)}"] += n

    def _relation(self) -> str:
        """The staged rows and those of the files DuckDB reads directly, as one relation."""
        staged = f"""select * exclude (_fast) replace (
                case when _fast then rowid + _row_number else _row_number end as _row_number)
            from {self.table}"""
        branches = [staged, *(f.relation() for f in self.direct)]
        return "(" + "\nunion all by name\n".join(branches) + ")"

    def _validate(self, keys_repeat: bool) -> None:
        context = self.load
        sql = validation_sql(
            self.entity, self._relation(), context.rules, context.now, ("_file",), keys_repeat
        )
        self.con.execute(f"create or replace temp table {self.validated} as {sql}")

    def _direct_files_whole(self) -> bool:
        """Whether DuckDB read as many rows of each directly read file as it has lines."""
        if not self.direct:
            return True
        counts = dict(
            self.con.execute(
                f"select _file, count(*) from {self.validated} where _file in "
                f"(select unnest(?)) group by all",
                [[f.relative for f in self.direct]],
            ).fetchall()
        )
        return all(counts.get(f.relative, 0) == f.rows for f in self.direct)

    def _read_exactly_what_direct_reads_miss(self) -> None:
        """Move the directly read files whose records are not one line each, or that DuckDB
        refuses, to the exact path."""
        keep = []
        for direct in self.direct:
            try:
                [(rows,)] = self.con.execute(f"select count(*) from ({direct.query})").fetchall()
            except duckdb.InvalidInputException:
                rows = None
            if rows == direct.rows:
                keep.append(direct)
                continue
            load = self.loads[direct.day]
            self.rows -= direct.rows
            load.rows_read -= direct.rows
            read = self._add_exact(
                direct.path, direct.relative, direct.scan, direct.day, direct.note
            )
            self._count_read(load, read)
            for delivered in load.delivered:
                if delivered.file == direct.relative:
                    delivered.rows_read = read.rows_read
        self.direct = keep

    def prepare(self) -> None:
        """Validate the staged rows into a temporary table. Runs before the write transaction:
        a file DuckDB refuses aborts the statement reading it, which in a transaction would
        abort the transaction.

        Raises DeliveryError when a column of a file changed type."""
        if not self._validated_rows:
            return
        try:
            self._validate(keys_repeat=False)
            whole = self._direct_files_whole()
        except duckdb.InvalidInputException:
            whole = False
        if not whole:
            self._read_exactly_what_direct_reads_miss()
            self._validate(keys_repeat=False)
        if keys_repeat(self.con, self.entity, self.validated):
            self._validate(keys_repeat=True)
        [(bad,)] = self.con.execute(
            f"select count(*) from {self.validated} where _reason <> ''"
        ).fetchall()
        self._refuse_changed_types(bad, self._relation())

    def _refuse_changed_types(self, bad: int, relation: str) -> None:
        """Raise DeliveryError when a column of a file of ``relation`` changed type."""
        # A column whose type changed fails each of its values, so it needs bad rows to exist.
        if bad < TYPE_CHANGE_MIN_VALUES:
            return
        changed = changed_type_columns(self.con, self.entity, relation, self.load.rules)
        if changed:
            file, columns = sorted(changed.items())[0]
            raise DeliveryError(
                f"{self.paths[file]}: column(s) changed type: {'; '.join(columns)}; fix "
                "the export (or the contract in ingest/contract.py) and load the "
                "day again"
            )

    @property
    def _validated_rows(self) -> int:
        """Rows staged or read while validating (not those loaded straight)."""
        return self.rows - sum(f.rows for f in self.straight)

    def not_straight(self, files: list[_DirectFile]) -> None:
        """Read ``files`` while validating instead of straight into the raw table."""
        self.straight = [f for f in self.straight if f not in files]
        self.direct += files

    def reset(self) -> None:
        """Empty the stage (its rows are committed)."""
        self._create()

    def write(self) -> None:
        """Write the validated rows to the raw table and the quarantine, and load the straight
        files (within the caller's transaction).

        Raises _NotStraight when a straight file cannot be loaded so (see _NotStraight)."""
        con, context = self.con, self.load
        con.execute(
            f"""insert into {QUARANTINE_TABLE}
            select ?, ?, _partition_date, _file, _row_number, reason, record, ?, ?
            from {self.rejects_table}""",
            [self.source.name, self.entity.name, context.load_id, context.loaded_at],
        )
        if self._validated_rows:
            self._write_validated()
        for files in _straight_groups(self.straight):
            self._write_straight(files)

    def _write_straight(self, files: list[_DirectFile]) -> None:
        context = self.load
        relation = _files_relation(self.entity, files, typed=True)
        passing = passing_rows_sql(self.entity, f"({relation})", context.rules, context.now)
        try:
            [(written,)] = self.con.execute(
                f"""insert into {self.source.raw_table(self.entity)} by name
                select *, ? as _load_id, ? as _loaded_at from ({passing})""",
                [context.load_id, context.loaded_at],
            ).fetchall()
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            raise _NotStraight(self, files) from None
        if written != sum(f.rows for f in files):
            self._quarantine_broken(files, written)

    def _quarantine_broken(self, files: list[_DirectFile], written: int) -> None:
        """Quarantine, with their reasons, the rows of ``files`` the straight statement left
        out: a second pass over the files that keeps only the broken rows. Raises _NotStraight
        when they do not make up the difference (a record spans lines: see reading; no file can
        give more records than lines, so the totals tell)."""
        context = self.load
        relation = f"({_files_relation(self.entity, files)})"
        sql = validation_sql(
            self.entity, relation, context.rules, context.now, ("_file",), keys_repeat=False
        )
        try:
            self.con.execute(
                f"create or replace temp table {self.validated} as "
                f"select * from ({sql}) where _reason <> ''"
            )
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            raise _NotStraight(self, files) from None
        [(bad,)] = self.con.execute(f"select count(*) from {self.validated}").fetchall()
        if written + bad != sum(f.rows for f in files):
            raise _NotStraight(self, files)
        self._refuse_changed_types(bad, relation)
        self._quarantine_validated()

    def check_straight_keys(self, first: date, last: date) -> None:
        """Raise _NotStraight for the straight files when a key occurs twice on a day among the
        rows written for the days ``first``..``last`` (the key rules then name them)."""
        if not self.straight:
            return
        # One hash of the day and the key (at 18M keys and 8 GB, grouping by it was 2.5x faster
        # than by the text); two keys sharing a hash (about one chance in 10^5) only send the
        # files to the key rules, which compare the text.
        key = ", ".join(["_partition_date", *(f'"{k}"' for k in self.entity.key)])
        written = (
            f"{self.source.raw_table(self.entity)} where _partition_date "
            f"between date '{first.isoformat()}' and date '{last.isoformat()}'"
        )
        [(repeats,)] = self.con.execute(hashes_repeat_sql(key, written)).fetchall()
        if repeats:
            raise _NotStraight(self, list(self.straight))

    def _write_validated(self) -> None:
        con, context = self.con, self.load
        con.execute(
            f"""insert into {self.source.raw_table(self.entity)} by name
            select * exclude (_reason, _record), ? as _load_id, ? as _loaded_at
            from {self.validated} where _reason = ''""",
            [context.load_id, context.loaded_at],
        )
        self._quarantine_validated()

    def _quarantine_validated(self) -> None:
        """Quarantine the broken rows of the validated table and count them."""
        con, context = self.con, self.load
        con.execute(
            f"""insert into {QUARANTINE_TABLE}
            select ?, ?, _partition_date, _file, _row_number, _reason, _record, ?, ?
            from {self.validated} where _reason <> ''""",
            [self.source.name, self.entity.name, context.load_id, context.loaded_at],
        )
        bad_by_day = con.execute(
            f"select _partition_date, count(*) from {self.validated} where _reason <> '' "
            "group by all"
        ).fetchall()
        for day, n in bad_by_day:
            self.loads[day].rows_quarantined += n
        reasons = con.execute(
            "select part, count(*) from (select unnest(string_split(_reason, '; ')) as part "
            f"from {self.validated} where _reason <> '') group by all"
        ).fetchall()
        for reason, n in reasons:
            self._count(reason, n)


def _rule(reason: str) -> str:
    """A reason without the offending value, so that equal rules count together."""
    return re.sub(r"'[^']*'", "'…'", reason)


@dataclass
class _LoadContext:
    """What every file of one load shares."""

    load_id: str
    loaded_at: datetime
    now: datetime
    """Shop-local time of the load: no event can be later."""
    rules: DeliveryRules
    report: SourceLoadReport
    originals: dict[tuple[str, str], tuple[str, date]]
    """(entity, sha256) -> (file, day) of every non-empty file loaded so far, for finding
    files re-delivered for another day."""
    store: ParquetRawStore | None = None
    """Where committed days are also written as Parquet (Spark), if anywhere."""


def _delete_days(con: duckdb.DuckDBPyConnection, source: Source, start: date, end: date) -> None:
    for entity in source.entities:
        con.execute(
            f"delete from {source.raw_table(entity)} where _partition_date between ? and ?",
            [start, end],
        )
    for table, date_column in (
        (QUARANTINE_TABLE, "_partition_date"),
        (LOADS_TABLE, "partition_date"),
        (FILES_TABLE, "partition_date"),
    ):
        con.execute(
            f"delete from {table} where source = ? and {date_column} between ? and ?",
            [source.name, start, end],
        )


def _originals(
    con: duckdb.DuckDBPyConnection, source: Source, start: date, end: date
) -> dict[tuple[str, str], tuple]:
    """The files loaded for days outside ``start``..``end`` (those are being replaced)."""
    rows = con.execute(
        f"""select entity, sha256, arg_min(file, partition_date), min(partition_date)
        from {FILES_TABLE} where source = ? and status = ? and rows_read > 0
            and partition_date not between ? and ?
        group by all""",
        [source.name, LOADED, start, end],
    ).fetchall()
    return {(entity, sha): (file, day) for entity, sha, file, day in rows}


def _modified_at(path: Path) -> datetime:
    try:
        return mtime_utc(path.stat().st_mtime_ns)
    except OSError as exc:
        raise DeliveryError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _stage_day_files(
    stage: _EntityStage, paths: list[Path], landing: Path, load: EntityLoad
) -> None:
    """Stage one entity's files of one day, recording each file in ``load``."""
    context = stage.load
    day = load.partition_date
    this_day: dict[str, DeliveredFile] = {}
    for path in paths:
        relative = path.relative_to(landing).as_posix()
        stamp = _modified_at(path)
        scan = scan_file(path)
        first = this_day.get(scan.sha256)
        if first is not None:
            load.delivered.append(
                DeliveredFile(
                    relative,
                    scan.sha256,
                    scan.bytes,
                    stamp,
                    first.encoding,
                    first.rows_read,
                    SKIPPED_DUPLICATE,
                    first.file,
                )
            )
            context.report.warnings.append(
                f"{relative}: skipped, same content as {first.file} (delivered twice)"
            )
            continue
        earlier = context.originals.get((stage.entity.name, scan.sha256))
        note = None
        if earlier is not None and earlier[1] != day:
            note = f"duplicate delivery: same content as {earlier[0]} (delivered for {earlier[1]})"
        rows_read = stage.add(path, relative, scan, load, note)
        status, original = LOADED, None
        if note is not None and rows_read:
            status, original = QUARANTINED_DUPLICATE, earlier[0]
            context.report.warnings.append(f"{relative}: every row quarantined, {note}")
        elif rows_read:
            context.originals.setdefault((stage.entity.name, scan.sha256), (relative, day))
        delivered = DeliveredFile(
            relative, scan.sha256, scan.bytes, stamp, scan.encoding, rows_read, status, original
        )
        this_day[scan.sha256] = delivered
        load.delivered.append(delivered)


def _count_rows_without_parent(
    con: duckdb.DuckDBPyConnection, source: Source, report: SourceLoadReport
) -> None:
    """Count, per day, the loaded rows of child entities whose parent is in no delivery loaded
    so far (kept: the parent may come late, but revenue and counts miss it until then), and
    record the counts in ``raw._loads``. Counted once the whole range is loaded, so that a
    parent delivered a few days after its lines within the range is found."""
    entities = {e.name: e for e in source.entities}
    for entity in source.entities:
        if entity.parent is None:
            continue
        parent = entities[entity.parent]
        table = source.raw_table(parent)
        # Over a long range most of both tables take part, and comparing 64-bit hashes of the
        # keys costs a third of comparing the keys (two years at 1M customers: 2.0 against
        # 5.5-7.2 CPU-s); over a night's rows the keys' anti-join is cheaper (0.6 against 1.1
        # CPU-s). A missing parent whose key shares a hash with another (about one chance in
        # 10^12 for each such row at 10M orders) would go uncounted.
        if (report.end - report.start).days >= LONG_RANGE_DAYS:
            keys = [", ".join(f'{t}."{k}"' for k in parent.key) for t in ("c", "p")]
            without_parent = f"hash({keys[0]}) not in (select hash({keys[1]}) from {table} p)"
        else:
            joined = " and ".join(f'p."{k}" = c."{k}"' for k in parent.key)
            without_parent = f"not exists (select 1 from {table} p where {joined})"
        by_day = dict(
            con.execute(
                f"""select c._partition_date, count(*) from {source.raw_table(entity)} c
                where c._partition_date between ? and ? and {without_parent}
                group by all""",
                [report.start, report.end],
            ).fetchall()
        )
        loads = [load for load in report.loads if load.entity == entity.name]
        for load in loads:
            load.rows_without_parent = by_day.get(load.partition_date, 0)
            if load.rows_without_parent:
                report.warnings.append(
                    f"{source.name}/{load.partition_date}/{entity.name}: "
                    f"{load.rows_without_parent:,} row(s) whose {parent.name} row never "
                    f"arrived (kept; no {', '.join(parent.key)} in {source.raw_table(parent)})"
                )
        counts = pa.table(
            {
                "day": pa.array([load.partition_date for load in loads], pa.date32()),
                "n": pa.array([load.rows_without_parent for load in loads], pa.int64()),
            }
        )
        con.register("_without_parent", counts)
        try:
            con.execute(
                f"""update {LOADS_TABLE} set rows_without_parent = f.n from _without_parent f
                where source = ? and entity = ? and partition_date = f.day""",
                [source.name, entity.name],
            )
        finally:
            con.unregister("_without_parent")


def _one_case(con: duckdb.DuckDBPyConnection, key: str, table: str) -> bool:
    """Whether every id ``key`` of ``table`` is its lower case (`a1b2`), or every one the upper
    case of its lower case (`O341`: two such ids of the same lower case are the same id): then
    no two ids differ only in case, which a cheap pass tells (a fifth of the cost of grouping
    the ids). An export writes its ids in one style, so the style of one id says which test to
    make first; the other is made only when that one fails."""
    tests = [f"{key} = lower({key})", f"{key} = upper(lower({key}))"]
    sample = con.execute(f"select {key} from {table} where {key} is not null limit 1").fetchall()
    if sample and sample[0][0] != sample[0][0].lower():
        tests.reverse()
    for test in tests:
        [(holds,)] = con.execute(f"select bool_and({test}) from {table}").fetchall()
        if holds is not False:
            return True
    return False


def _warn_case_variants(
    con: duckdb.DuckDBPyConnection, source: Source, report: SourceLoadReport
) -> None:
    """Warn about keys loaded for the days of ``report`` that equal another loaded key but for
    case (`o341` beside `O341`): ids are case-sensitive, so they stay two rows, but such a
    pair is usually an export that changed the case of its ids."""
    for entity in source.entities:
        ids = [k for k in entity.key if entity.column(k).is_id]
        if len(ids) != 1:
            continue
        key, table = f'"{ids[0]}"', source.raw_table(entity)
        if _one_case(con, key, table):
            continue
        # One pass over the ids finds whether there may be such a pair (rarely): grouping by
        # hashes needs a fraction of the memory of grouping by the text. Only then are the
        # pairs counted and one picked, comparing the text.
        [(any_pair,)] = con.execute(
            f"""select exists (select 1 from {table} group by hash(lower({key}))
                having min(hash({key})) <> max(hash({key}))
                    and bool_or(_partition_date between ? and ?))""",
            [report.start, report.end],
        ).fetchall()
        if not any_pair:
            continue
        count, pair = con.execute(
            f"""with loaded as (
                select distinct {key} as id from {table} where _partition_date between ? and ?
            ),
            every as (select distinct {key} as id from {table})
            select count(distinct loaded.id), min([loaded.id, every.id])
            from loaded join every on lower(loaded.id) = lower(every.id)
            where loaded.id <> every.id""",
            [report.start, report.end],
        ).fetchall()[0]
        if count:
            report.warnings.append(
                f"{source.name}/{entity.name}: {count:,} {ids[0]}(s) differ from another "
                f"loaded {ids[0]} only in case (e.g. {pair[0]!r} and {pair[1]!r}); ids are "
                "case-sensitive, so they are different rows: fix the export if it changed case"
            )


def load_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    landing: Path,
    start: date,
    end: date,
    load_id: str,
    progress: Callable[[date, int], None] | None = None,
    rules: DeliveryRules | None = None,
    store: ParquetRawStore | None = None,
) -> SourceLoadReport:
    """Replace ``source``'s rows for the days ``start``..``end`` with what ``landing`` holds,
    checking rows against the contract and ``rules`` (default: the default limits); with a
    ``store`` (Spark), each committed day is also written to its Parquet day folders.

    ``progress`` is called after each day with the day and the rows read so far.

    Raises DeliveryError when a file cannot be loaded at all, leaving the days from the batch
    holding that file on as they were (the batches before it stay committed).
    """
    rules = rules or DeliveryRules()
    ensure_raw_tables(con, (source,))
    report = SourceLoadReport(source.name, start, end)
    loaded_at = datetime.now().replace(microsecond=0)
    now = datetime.now(ZoneInfo(rules.timezone)).replace(tzinfo=None, microsecond=0)
    odd = odd_source_entries(landing, source)
    if odd:
        raise DeliveryError(
            f"{', '.join(map(str, odd))}: not a delivery day folder <YYYY-MM-DD> (e.g. "
            f"{start.isoformat()}), so never read; rename or remove it and load again"
        )
    originals = _originals(con, source, start, end)
    context = _LoadContext(load_id, loaded_at, now, rules, report, originals, store)
    stages = [_EntityStage(con, source, entity, context) for entity in source.entities]
    try:
        first_day, in_flight = start, 0
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            files = day_folder(landing / source.name / day.isoformat(), source)
            if files.unrecognised:
                raise DeliveryError(describe_unrecognised(files.unrecognised, source))
            for stage in stages:
                load = EntityLoad(stage.entity.name, day)
                _stage_day_files(stage, files.files[stage.entity.name], landing, load)
                report.loads.append(load)
            if progress is not None:
                progress(day, report.total("rows_read"))
            if day == end or sum(stage.rows for stage in stages) >= COMMIT_ROWS:
                _write_days(con, source, stages, report.loads[in_flight:], first_day, day)
                first_day, in_flight = day + timedelta(days=1), len(report.loads)
    finally:
        for stage in stages:
            stage.drop()
    _count_rows_without_parent(con, source, report)
    if store is not None:
        store.write_load_log(con, source)
    _warn_case_variants(con, source, report)
    for load in report.loads:
        for kind, columns in (("extra", load.extra_columns), ("missing", load.missing_columns)):
            if columns:
                what = "ignored" if kind == "extra" else "loaded as empty"
                report.warnings.append(
                    f"{source.name}/{load.partition_date}/{load.entity}: {kind} column(s) "
                    f"{', '.join(sorted(columns))} ({what})"
                )
    return report


def _write_days(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    stages: list[_EntityStage],
    loads: list[EntityLoad],
    first: date,
    last: date,
) -> None:
    """Replace the days ``first``..``last`` with their staged rows and ``loads``, in one
    transaction."""
    context = stages[0].load
    while True:
        for stage in stages:
            stage.prepare()
        reasons = Counter(context.report.reasons)
        quarantined = [load.rows_quarantined for load in loads]
        try:
            with _one_thread(con):
                con.begin()
                try:
                    _delete_days(con, source, first, last)
                    for stage in stages:
                        stage.write()
                    for stage in stages:
                        stage.check_straight_keys(first, last)
                    _record(con, source, loads, context.load_id, context.loaded_at)
                    if context.store is not None:
                        context.store.write_days(con, source, first, last)
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
            break
        except _NotStraight as refused:
            # The counts of the rows quarantined by the rolled back writes are counted again.
            context.report.reasons.clear()
            context.report.reasons.update(reasons)
            for load, n in zip(loads, quarantined, strict=True):
                load.rows_quarantined = n
            refused.stage.not_straight(refused.files)
    for stage in stages:
        stage.reset()


def _record(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    loads: list[EntityLoad],
    load_id: str,
    loaded_at: datetime,
) -> None:
    """Write the figures of ``loads`` to ``raw._loads`` and their files to ``raw._files``."""
    for load in loads:
        load.rows_loaded = load.rows_read - load.rows_quarantined
    figures = pa.Table.from_pylist(
        [
            {
                "load_id": load_id,
                "source": source.name,
                "entity": load.entity,
                "partition_date": load.partition_date,
                "files": len(load.files),
                "rows_read": load.rows_read,
                "rows_loaded": load.rows_loaded,
                "rows_quarantined": load.rows_quarantined,
                "extra_columns": ",".join(sorted(load.extra_columns)) or None,
                "loaded_at": loaded_at,
                "files_skipped": load.files_skipped,
                "missing_columns": ",".join(sorted(load.missing_columns)) or None,
                "encodings": load.encodings,
                "rows_without_parent": load.rows_without_parent,
            }
            for load in loads
        ]
    )
    files = [
        {
            "load_id": load_id,
            "source": source.name,
            "entity": load.entity,
            "partition_date": load.partition_date,
            **{name: getattr(f, name) for name in FILES.column_names if hasattr(f, name)},
            "loaded_at": loaded_at,
        }
        for load in loads
        for f in load.delivered
    ]
    con.register("_loads_frame", figures)
    con.execute(f"insert into {LOADS_TABLE} by name select * from _loads_frame")
    con.unregister("_loads_frame")
    if files:
        con.register("_files_frame", pa.Table.from_pylist(files))
        con.execute(f"insert into {FILES_TABLE} by name select * from _files_frame")
        con.unregister("_files_frame")


__all__ = ["DeliveryError", "DeliveryRules", "SourceLoadReport", "ensure_raw_tables", "load_source"]
