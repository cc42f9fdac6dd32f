"""Reading one delivered file into rows of text, keeping what cannot be read as rejects.

Reading knows only the file format (CSV or JSON Lines) and the header; the column types and
value rules of the contract are checked afterwards, in DuckDB (see `validation.py`).
"""

from __future__ import annotations

import _csv
import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ingest.contract import Entity
from ingest.encoding import UTF8, EncodingError, decode
from ingest.landing import GZIP_SUFFIX

TRUNCATED = "truncated: the file does not end with a line break"
"""Reason for the last row of a CSV file without a final line break: a file cut off mid-write
ends the same way, and its last value may be cut (`110` for `110.90`) yet still valid."""
_DELIMITERS = (";", "\t", "|")


class DeliveryError(Exception):
    """A delivery that cannot be loaded at all; the message names the file and what to do."""


@dataclass
class ReadFile:
    """The rows of one file as text, column by column, with the rows that could not be read."""

    path: Path
    columns: dict[str, list[str | None]]
    """One list of values per contract column ('' or None where empty)."""
    row_numbers: list[int]
    """The line in the file where each row starts."""
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    """(line number, reason, raw record) for rows that could not be read."""
    extra_columns: tuple[str, ...] = ()
    """Columns the file has and the contract does not: ignored."""
    missing_columns: tuple[str, ...] = ()
    """Optional contract columns the file lacks: loaded as null."""
    encoding: str = UTF8

    @property
    def rows_read(self) -> int:
        return len(self.row_numbers) + len(self.rejects)


def read_delivery_file(path: Path, entity: Entity, data: bytes | None = None) -> ReadFile:
    """Read ``path`` (whose bytes are ``data``, when already read) as a delivery of ``entity``.

    A name ending in ``.gz`` is decompressed first.

    Raises DeliveryError when the whole file is unusable: not gzip although named so, neither
    UTF-8 nor GBK, no header, another delimiter, a column named twice, or required columns
    missing. Rows with the wrong number of fields (CSV), that are not a JSON object or hold a
    JSON object, array or boolean in a text column (JSONL), and the last row of a CSV file
    without a final line break become rejects with their line number.
    """
    data = path.read_bytes() if data is None else data
    if path.name.lower().endswith(GZIP_SUFFIX):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DeliveryError(
                f"{path}: not a complete gzip file ({exc}); deliver it again"
            ) from None
    try:
        decoded = decode(data)
    except EncodingError as exc:
        raise DeliveryError(
            f"{path}: {exc}; re-export the file as UTF-8 and load the day again"
        ) from None
    if entity.format == "csv":
        read = _read_csv(path, entity, decoded.text)
    else:
        read = _read_jsonl(path, entity, decoded.text)
    read.encoding = decoded.encoding
    return read


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


def _read_csv(path: Path, entity: Entity, text: str) -> ReadFile:
    # A long text field (a ticket's whole e-mail thread) is a value, not an error: no field can
    # be longer than its file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _parse_csv(path, entity, text, reader)
    except csv.Error as exc:
        raise DeliveryError(
            f"{path}: line {reader.line_num}: cannot be read as CSV: {exc}"
        ) from None


def _parse_csv(path: Path, entity: Entity, text: str, reader: _csv.Reader) -> ReadFile:
    header = next(reader, None)
    if header is None:
        raise DeliveryError(f"{path}: empty file without a header row")
    header = [h.strip() for h in header]
    delimiter = _other_delimiter(header)
    if delimiter is not None:
        raise DeliveryError(
            f"{path}: the header has one column and the delimiter looks like "
            f"{delimiter!r}; the contract's delimiter is ',': re-export the file "
            "comma-separated and load the day again"
        )
    extra, missing = _check_columns(path, entity, header)
    position = {name: i for i, name in enumerate(header)}
    width = len(header)
    records: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    start = reader.line_num + 1
    for fields in reader:
        if not fields:
            start = reader.line_num + 1
            continue
        if len(fields) != width:
            rejects.append(
                (start, f"expected {width} fields, found {len(fields)}", ",".join(fields))
            )
        else:
            records.append(fields)
            lines.append(start)
        start = reader.line_num + 1
    if text and not text.endswith(("\n", "\r")):
        _reject_last_row(records, lines, rejects)
    values = list(zip(*records, strict=True)) if records else [()] * width
    columns = {
        name: list(values[position[name]]) if name in position else [None] * len(records)
        for name in entity.column_names
    }
    return ReadFile(path, columns, lines, rejects, extra, missing)


def _reject_last_row(
    records: list[list[str]], lines: list[int], rejects: list[tuple[int, str, str]]
) -> None:
    """Quarantine the last row of a file cut off without its final line break."""
    last_reject = rejects[-1][0] if rejects else 0
    if lines and lines[-1] > last_reject:
        rejects.append((lines.pop(), TRUNCATED, ",".join(records.pop())))
    elif rejects:
        line, reason, record = rejects[-1]
        rejects[-1] = (line, f"{TRUNCATED}; {reason}", record)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text or None


def _not_text(value: object) -> str | None:
    """What a JSON value in a text column is when it is not text, or None when it is text.
    Integers count as text (ids exported as numbers keep their digits exactly); a decimal
    number (`1.50` arrives as 1.5), a boolean, an object or an array does not: its text would
    be Python's or JSON's spelling, not what the source system holds."""
    if value is None or isinstance(value, str) or type(value) is int:
        return None
    kinds = {bool: "boolean", dict: "object", list: "array", float: "decimal number"}
    return f"a JSON {kinds.get(type(value), type(value).__name__)}"


def _read_jsonl(path: Path, entity: Entity, text: str) -> ReadFile:
    columns: dict[str, list[str | None]] = {name: [] for name in entity.column_names}
    text_columns = [c.name for c in entity.columns if c.type == "string"]
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    with io.StringIO(text) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                rejects.append((line_number, f"invalid JSON: {exc.msg}", line.rstrip("\n")))
                continue
            if not isinstance(obj, dict):
                rejects.append((line_number, "not a JSON object", line.rstrip("\n")))
                continue
            wrong = [(n, kind) for n in text_columns if (kind := _not_text(obj.get(n)))]
            if wrong:
                reason = "; ".join(f"{n}: {kind} where text is expected" for n, kind in wrong)
                rejects.append((line_number, reason, line.rstrip("\n")))
                continue
            seen.update(obj)
            for name, values in columns.items():
                values.append(_as_text(obj.get(name)))
            lines.append(line_number)
    # A line may leave out an optional key; a required key missing from every line is a
    # file-level error, while one missing from some lines is quarantined row by row. JSON
    # lines routinely leave out empty optional keys, so those are not reported as missing.
    extra = _check_columns(path, entity, sorted(seen))[0] if lines else ()
    return ReadFile(path, columns, lines, rejects, extra)
