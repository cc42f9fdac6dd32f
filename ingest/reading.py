"""Reading one delivered file into rows of text, keeping what cannot be read as rejects.

Reading knows only the file format (CSV or JSON Lines) and the header; the column types and
value rules of the contract are checked afterwards, in DuckDB (see `row_rules.py`).

Memory must not grow with the file (a 2 GB orders export is a normal night at a large shop), so
nothing here holds a whole file larger than 64 MB:

- :func:`scan_file` reads the bytes once, in chunks: their SHA-256 (duplicate deliveries), the
  encoding (`encoding.py`), and the counts the fast path needs.
- The fast path (:func:`fast_csv_query`) lets DuckDB's own CSV reader parse a UTF-8 CSV file,
  in parallel and without a Python object per value. Its one weakness is row numbers: DuckDB does
  not say on which line a record starts, and a quoted line break, a blank line or a row DuckDB
  rejects shifts every later line. So the fast path is taken only where the line is known
  exactly: the file ends with a line break, has no bare carriage return, its header is one line,
  and, checked after DuckDB has read it, its line breaks number exactly the records read plus the
  header. Then every record is one line, and record *i* starts on line *i* + 1 + header.
- Every other file (a quoted line break, blank lines, a wrong number of fields, no final line
  break, GBK, JSON Lines, or anything DuckDB refuses) takes the exact path: Python's csv / json
  modules, as before, but yielding bounded batches (:class:`ExactReader`) instead of one list
  per column of the whole file. It is slower but exact, and such files are the odd, small ones.
  A GBK file is decoded as it streams rather than transcoded for DuckDB: GBK exports come from
  CRM tools and are small, and the exact path's memory is flat already. A JSON Lines file of
  up to 64 MB is first parsed whole by Arrow's JSON reader, which refuses every line it would
  read otherwise than Python's json (see :meth:`ExactReader._whole_jsonl`); DuckDB's
  `read_json` types values itself instead (`1.50` becomes 1.5, an id exported as a number gets
  a type), where the contract wants the text as sent.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ingest.contract import DUCKDB_TYPES, Entity
from ingest.encoding import UTF8, EncodingError, Utf8Check, not_utf8_encoding
from ingest.landing import GZIP_SUFFIX
from ingest.row_rules import READ_TYPED, sql_literal

TRUNCATED = "truncated: the file does not end with a line break"
"""Reason for the last row of a CSV file without a final line break: a file cut off mid-write
ends the same way, and its last value may be cut (`110` for `110.90`) yet still valid."""
_DELIMITERS = (";", "\t", "|")
CHUNK_BYTES = 1 << 20
_LINE_FEED = ord("\n")
BATCH_ROWS = 50_000
"""Rows of the exact path held in Python at once (fewer when their text is long)."""
BATCH_CHARACTERS = 64 << 20
"""Characters of values of the exact path held in Python at once: a batch of long ticket
descriptions stays small too."""
WHOLE_JSONL_BYTES = 64 << 20
"""JSON Lines files up to this size (as text) are first parsed whole by Arrow (see
:meth:`ExactReader._whole_jsonl`), those above 8 MB with its threads."""
PARALLEL_JSONL_BYTES = 8 << 20


class DeliveryError(Exception):
    """A delivery that cannot be loaded at all; the message names the file and what to do."""


@dataclass(frozen=True)
class FileScan:
    """What one pass over the bytes of a delivered file found."""

    sha256: str
    """Of the bytes as delivered (compressed, for a ``.gz`` file)."""
    bytes: int
    encoding: str
    line_breaks: int
    """``\\n`` in the text (decompressed)."""
    carriage_returns: int
    ends_with_line_break: bool


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(GZIP_SUFFIX)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk


def _text_chunks(path: Path) -> Iterator[bytes]:
    """The bytes of the text of ``path``, decompressed when gzip."""
    with gzip.open(path, "rb") if is_gzip(path) else path.open("rb") as handle:
        yield from _chunks(handle)


def scan_file(path: Path) -> FileScan:
    """Read ``path`` once, in chunks: its SHA-256, size, encoding and line breaks.

    Raises DeliveryError when it cannot be read (no permission, vanished, a special file: the
    landing folder needs fixing), is not a complete gzip file although named so, or is neither
    UTF-8 nor GBK."""
    sha = hashlib.sha256()
    size = 0
    text_pass = not is_gzip(path)
    check = Utf8Check()
    line_breaks = carriage_returns = 0
    last = b""

    def count(chunk: bytes) -> None:
        nonlocal line_breaks, carriage_returns, last
        check.feed(chunk)
        # numpy counts a byte three times faster than bytes.count (2.3 GB/s), a second of CPU
        # saved on a 2 GB file.
        line_breaks += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == _LINE_FEED))
        if b"\r" in chunk:
            carriage_returns += chunk.count(b"\r")
        last = chunk[-1:]

    try:
        with path.open("rb") as handle:
            for chunk in _chunks(handle):
                sha.update(chunk)
                size += len(chunk)
                if text_pass:
                    count(chunk)
    except OSError as exc:
        raise DeliveryError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not text_pass:
        try:
            for chunk in _text_chunks(path):
                count(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            raise DeliveryError(
                f"{path}: not a complete gzip file ({exc}); deliver it again"
            ) from None
    check.feed(b"", final=True)
    try:
        check.refuse_utf16()
        encoding = (
            UTF8 if check.error is None else not_utf8_encoding(check, lambda: _text_chunks(path))
        )
    except EncodingError as exc:
        raise DeliveryError(
            f"{path}: {exc}; re-export the file as UTF-8 and load the day again"
        ) from None
    return FileScan(
        sha.hexdigest(), size, encoding, line_breaks, carriage_returns, last in (b"\n", b"\r")
    )


def _open_text(path: Path, encoding: str, newline: str) -> io.TextIOWrapper:
    binary = gzip.open(path, "rb") if is_gzip(path) else path.open("rb")
    # A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    codec = "utf-8-sig" if encoding == UTF8 else encoding
    return io.TextIOWrapper(binary, encoding=codec, newline=newline)


@dataclass(frozen=True)
class Header:
    """The columns of a CSV file's header, as they bear on the contract."""

    present: tuple[str, ...]
    """The header's names, stripped, in file order."""
    lines: int
    """Lines the header takes: 1, unless a quoted name holds a line break."""
    extra: tuple[str, ...]
    """Columns the file has and the contract does not: ignored."""
    missing: tuple[str, ...]
    """Optional contract columns the file lacks: loaded as null."""


def _check_columns(
    path: Path, entity: Entity, present: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(extra columns, missing optional columns) of a file with the columns ``present``."""
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        raise DeliveryError(
            f"{path}: missing required column(s) {', '.join(missing)}; "
            f"see docs/data_contract.md for the {entity.name} columns"
        )
    twice = sorted({c for c in present if present.count(c) > 1})
    if twice:
        raise DeliveryError(f"{path}: column(s) {', '.join(twice)} appear more than once")
    extra = tuple(c for c in present if c not in entity.column_names)
    return extra, tuple(c for c in entity.column_names if c not in present)


def _other_delimiter(header: list[str]) -> str | None:
    """The delimiter a one-column header seems to use instead of a comma, if any."""
    if len(header) != 1:
        return None
    counts = {d: header[0].count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


def _read_header(path: Path, entity: Entity, reader: csv.Reader) -> Header:
    names = next(reader, None)
    if names is None:
        raise DeliveryError(f"{path}: empty file without a header row")
    names = [h.strip() for h in names]
    delimiter = _other_delimiter(names)
    if delimiter is not None:
        raise DeliveryError(
            f"{path}: the header has one column and the delimiter looks like "
            f"{delimiter!r}; the contract's delimiter is ',': re-export the file "
            "comma-separated and load the day again"
        )
    extra, missing = _check_columns(path, entity, names)
    return Header(tuple(names), reader.line_num, extra, missing)


def _csv_reader(handle: IO[str]) -> csv.Reader:
    # A long text field (a ticket's whole e-mail thread) is a value, not an error: no field can
    # be longer than its file, whatever its size.
    csv.field_size_limit(sys.maxsize)
    return csv.reader(handle)


def read_csv_header(path: Path, entity: Entity, scan: FileScan) -> Header:
    """The header of the CSV file ``path``, checked against ``entity``.

    Raises DeliveryError when there is none, it uses another delimiter, names a column twice
    or lacks a required column."""
    with _open_text(path, scan.encoding, "") as handle:
        reader = _csv_reader(handle)
        try:
            return _read_header(path, entity, reader)
        except csv.Error as exc:
            raise DeliveryError(
                f"{path}: line {reader.line_num}: cannot be read as CSV: {exc}"
            ) from None


def fast_csv_query(
    path: Path, entity: Entity, scan: FileScan, header: Header, read_typed: bool = False
) -> str | None:
    """A DuckDB query reading the contract columns of the CSV file ``path`` (see
    :func:`csv_files_query`), or None when the file must take the exact path. The caller checks
    that the query returned ``scan.line_breaks - header.lines`` rows (see the module
    docstring)."""
    one_line_per_row = (
        scan.encoding == UTF8
        and scan.ends_with_line_break
        and scan.carriage_returns in (0, scan.line_breaks)
        and header.lines == 1
    )
    return csv_files_query([path], entity, header, read_typed) if one_line_per_row else None


def csv_files_query(
    paths: list[Path], entity: Entity, header: Header, read_typed: bool = False
) -> str:
    """A DuckDB query reading the contract columns of the CSV files ``paths`` as text ('' where
    empty, null where the files lack the column), file after file, each in file order. The
    files share ``header`` and their compression, and each may take the fast path (see
    :func:`fast_csv_query`). With more than one file, ``_path`` holds each row's file, as in
    ``paths``.

    ``read_typed``: columns of a ``row_rules.READ_TYPED`` type are typed by the reader, and a
    value it cannot type fails the query; every column is null where empty."""
    position = {name: i for i, name in enumerate(header.present)}
    types = dict.fromkeys(range(len(header.present)), "varchar")
    values = []
    for column in entity.columns:
        name, i = column.name, position.get(column.name)
        type_ = DUCKDB_TYPES[column.type] if read_typed and column.type in READ_TYPED else None
        if i is None:
            values.append(f'null::{type_ or "varchar"} as "{name}"')
        elif not read_typed:
            values.append(f"coalesce(c{i}, '') as \"{name}\"")
        else:
            types[i] = type_ or "varchar"
            values.append(f'c{i} as "{name}"')
    columns = ", ".join(f"'c{i}': '{type_}'" for i, type_ in types.items())
    files = ", ".join(sql_literal(str(path)) for path in paths)
    several = len(paths) > 1
    if several:
        values.append("filename as _path")
    # strict_mode refuses what Python's csv would read differently (a quote inside a quoted
    # value, a row of another width): such a file then takes the exact path.
    return f"""select {", ".join(values)} from read_csv([{files}], delim = ',',
        quote = '"', escape = '"', header = true, auto_detect = false, strict_mode = true,
        null_padding = false, compression = '{"gzip" if is_gzip(paths[0]) else "none"}',
        filename = {str(several).lower()}, columns = {{{columns}}})"""


@dataclass
class Batch:
    """Rows of one file read by the exact path."""

    values: pa.Table
    """The contract columns as text, and ``_row_number`` (the line where each row starts)."""
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    """(line number, reason, raw record) of rows that could not be read."""


class ExactReader:
    """Reads a file with Python's csv or json module, yielding bounded batches.

    ``extra_columns`` and ``missing_columns`` are known once the batches are read (a JSON Lines
    file names its keys line by line)."""

    def __init__(self, path: Path, entity: Entity, scan: FileScan) -> None:
        self.path, self.entity, self.scan = path, entity, scan
        self.extra_columns: tuple[str, ...] = ()
        self.missing_columns: tuple[str, ...] = ()
        self._rows: dict[str, list[str | None]] = {name: [] for name in entity.column_names}
        self._lines: list[int] = []
        self._rejects: list[tuple[int, str, str]] = []
        self._characters = 0
        self._text_columns = [c.name for c in entity.columns if c.type == "string"]

    def _clear(self) -> None:
        # In place: the CSV parser holds on to the lists of the columns.
        for values in self._rows.values():
            values.clear()
        self._lines, self._rejects, self._characters = [], [], 0

    def _full(self) -> bool:
        held = len(self._lines) + len(self._rejects)
        return held >= BATCH_ROWS or self._characters >= BATCH_CHARACTERS

    def _batch(self) -> Batch:
        columns = {name: pa.array(values, pa.string()) for name, values in self._rows.items()}
        columns["_row_number"] = pa.array(self._lines, pa.int64())
        batch = Batch(pa.table(columns), self._rejects)
        self._clear()
        return batch

    def batches(self) -> Iterator[Batch]:
        """The file's rows, a bounded batch at a time.

        Raises DeliveryError as :func:`read_csv_header` does, and for a CSV file Python's csv
        cannot read, or a JSON Lines file whose every line lacks a required key."""
        if self.entity.format == "csv":
            yield from self._csv_batches()
        else:
            yield from self._jsonl_batches()

    def _csv_batches(self) -> Iterator[Batch]:
        with _open_text(self.path, self.scan.encoding, "") as handle:
            reader = _csv_reader(handle)
            try:
                yield from self._parse_csv(reader)
            except csv.Error as exc:
                raise DeliveryError(
                    f"{self.path}: line {reader.line_num}: cannot be read as CSV: {exc}"
                ) from None

    def _parse_csv(self, reader: csv.Reader) -> Iterator[Batch]:
        header = _read_header(self.path, self.entity, reader)
        self.extra_columns, self.missing_columns = header.extra, header.missing
        position = {name: i for i, name in enumerate(header.present)}
        taken = [(self._rows[name], position.get(name)) for name in self.entity.column_names]
        width = len(header.present)

        def add(line: int, fields: list[str], truncated: bool) -> None:
            reason = (
                None if len(fields) == width else f"expected {width} fields, found {len(fields)}"
            )
            if truncated:
                reason = TRUNCATED if reason is None else f"{TRUNCATED}; {reason}"
            if reason is not None:
                self._rejects.append((line, reason, ",".join(fields)))
                return
            for values, i in taken:
                values.append(None if i is None else fields[i])
            self._lines.append(line)
            self._characters += sum(map(len, fields))

        # The last row is held back until the end: without a final line break it is quarantined.
        held: tuple[int, list[str]] | None = None
        start = reader.line_num + 1
        for fields in reader:
            if fields:
                if held is not None:
                    add(*held, truncated=False)
                held = (start, fields)
                if self._full():
                    yield self._batch()
            start = reader.line_num + 1
        if held is not None:
            add(*held, truncated=not self.scan.ends_with_line_break)
        if self._lines or self._rejects:
            yield self._batch()

    def _jsonl_batches(self) -> Iterator[Batch]:
        whole = self._whole_jsonl()
        if whole is not None:
            for start in range(0, whole.num_rows, BATCH_ROWS):
                yield Batch(whole.slice(start, BATCH_ROWS), [])
            return
        objects: list[dict] = []
        records: list[str] = []
        seen: set[str] = set()
        loaded = False
        with _open_text(self.path, self.scan.encoding, "\n") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.isspace():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    obj = f"invalid JSON: {exc.msg}"
                if _ESCAPED_SURROGATE.search(line) and _unpaired_surrogate(obj):
                    obj = "invalid JSON: an unpaired surrogate escape (no character)"
                if type(obj) is dict:
                    objects.append(obj)
                    records.append(line)
                    self._lines.append(line_number)
                    self._characters += len(line)
                else:
                    reason = obj if type(obj) is str else "not a JSON object"
                    self._rejects.append((line_number, reason, line.rstrip("\n")))
                if self._full():
                    loaded |= self._take(objects, records, seen)
                    yield self._batch()
        if objects or self._rejects:
            loaded |= self._take(objects, records, seen)
            yield self._batch()
        # A line may leave out an optional key; a required key missing from every line is a
        # file-level error, while one missing from some lines is quarantined row by row. JSON
        # lines routinely leave out empty optional keys, so those are not reported as missing.
        if loaded:
            self.extra_columns = _check_columns(self.path, self.entity, sorted(seen))[0]

    def _whole_jsonl(self) -> pa.Table | None:
        """The rows of a JSON Lines file as the line-by-line reading below gives them (the
        contract columns as text, and ``_row_number``), parsed whole by Arrow's JSON reader:
        the posts of 730 days at 1M customers (1.1M rows) load in 10.8-11.1 CPU-s against
        16.3-18.0 line by line. None when Arrow may read a line otherwise, which then goes line
        by line: a file that is large, not UTF-8 or has a blank line (not numbered by Arrow);
        and a line Arrow refuses, which json may take or quarantine with its reason: a value of
        another JSON type than its column's (an id sent as a number, `1.0` or `true` as an
        integer), a key named twice, a control character or an unpaired surrogate escape in a
        string, or not one object."""
        if self.scan.encoding != UTF8:
            return None
        with gzip.open(self.path, "rb") if is_gzip(self.path) else self.path.open("rb") as handle:
            data = handle.read(WHOLE_JSONL_BYTES + 1)
        if len(data) > WHOLE_JSONL_BYTES:
            return None
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        if not lines or not all(map(bytes.strip, lines)):
            return None
        schema = pa.schema(
            (c.name, pa.int64() if c.type == "integer" else pa.string())
            for c in self.entity.columns
        )
        options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        try:
            # Threads pay off for a large file only (a daily file of 1,500 posts: 2.9 against
            # 3.5 ms of CPU).
            threads = pa_json.ReadOptions(use_threads=len(data) > PARALLEL_JSONL_BYTES)
            table = pa_json.read_json(io.BytesIO(data), threads, options)
        except pa.ArrowInvalid:
            return None
        # Every line holds at least one object and none is blank: as many rows as lines means
        # one object each, so row i is line i + 1.
        required = (table.column(name) for name in self.entity.required_columns)
        if table.num_rows != len(lines) or any(c.null_count == len(c) for c in required):
            return None  # a required key maybe missing from every line: json's reading tells
        present = sorted(table.column_names)
        self.extra_columns = _check_columns(self.path, self.entity, present)[0]
        columns = {}
        for name in self.entity.column_names:
            values = table.column(name)
            if pa.types.is_integer(values.type):
                values = pc.cast(values, pa.string())
            columns[name] = pc.if_else(pc.equal(values, ""), None, values)
        columns["_row_number"] = pa.array(range(1, len(lines) + 1), pa.int64())
        return pa.table(columns)

    def _take(self, objects: list[dict], records: list[str], seen: set[str]) -> bool:
        """Move the JSON ``objects`` read (``records``: their lines, numbered in the batch's
        lines) into the batch's columns, or to its rejects when a text column holds another
        JSON type; adds their keys to ``seen``. Column by column, reading the 1M-customer
        demo's 1.1M posts costs half of what it did row by row (7.4 against 14.2 CPU-s).
        Returns whether any object was kept."""
        columns = {name: [obj.get(name) for obj in objects] for name in self._rows}
        wrong = _not_text_rows(columns, self._text_columns)
        kept = objects
        if wrong:
            for i, reason in wrong.items():
                self._rejects.append((self._lines[i], reason, records[i].rstrip("\n")))
            self._rejects.sort()
            rows = [i for i in range(len(objects)) if i not in wrong]
            columns = {name: [values[i] for i in rows] for name, values in columns.items()}
            self._lines = [self._lines[i] for i in rows]
            kept = [objects[i] for i in rows]
        seen.update(*kept)
        for name, values in columns.items():
            self._rows[name].extend(_texts(values))
        any_kept = bool(kept)
        objects.clear()
        records.clear()
        return any_kept


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(value: object) -> bool:
    """Whether a JSON value holds a surrogate escape without its pair (`"\\ud800"`), which
    json reads and no text can hold."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _not_text_rows(columns: dict[str, list], text_columns: list[str]) -> dict[int, str]:
    """The reason of each row (by position) whose text columns hold a JSON value that is not
    text (see :func:`_not_text`)."""
    reasons: dict[int, list[str]] = {}
    for name in text_columns:
        values = columns[name]
        if set(map(type, values)) <= _TEXT_TYPES:
            continue
        for i, value in enumerate(values):
            if kind := _not_text(value):
                reasons.setdefault(i, []).append(f"{name}: {kind} where text is expected")
    return {i: "; ".join(parts) for i, parts in sorted(reasons.items())}


def _texts(values: list) -> list[str | None]:
    """JSON ``values`` of one column as text (see :func:`_as_text`)."""
    if set(map(type, values)) <= _STRINGS:
        return [value or None for value in values]
    return [_as_text(value) for value in values]


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text or None


_STRINGS = frozenset({str, type(None)})
_TEXT_TYPES = _STRINGS | {int}
"""The types of JSON values that are text (see :func:`_not_text`); ``bool`` is not ``int``
here (``type(True)`` is ``bool``)."""


def _not_text(value: object) -> str | None:
    """What a JSON value in a text column is when it is not text, or None when it is text.
    Integers count as text (ids exported as numbers keep their digits exactly); a decimal
    number (`1.50` arrives as 1.5), a boolean, an object or an array does not: its text would
    be Python's or JSON's spelling, not what the source system holds."""
    if value is None or isinstance(value, str) or type(value) is int:
        return None
    kinds = {bool: "boolean", dict: "object", list: "array", float: "decimal number"}
    return f"a JSON {kinds.get(type(value), type(value).__name__)}"
