"""Reading one delivered file into rows of text, keeping what cannot be read as rejects.

Reading knows only the file format (CSV or JSON Lines) and the header; the column types and
value rules of the contract are checked afterwards, in DuckDB (see `validation.py`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ingest.contract import Entity
from ingest.encoding import UTF8, EncodingError, decode


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

    Raises DeliveryError when the whole file is unusable: neither UTF-8 nor GBK, no header,
    a column named twice, or required columns missing. Rows with the wrong number of fields
    (CSV) or that are not a JSON object (JSONL) become rejects with their line number.
    """
    try:
        decoded = decode(path.read_bytes() if data is None else data)
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


def _read_csv(path: Path, entity: Entity, text: str) -> ReadFile:
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DeliveryError(f"{path}: empty file without a header row")
        header = [h.strip() for h in header]
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
    values = list(zip(*records, strict=True)) if records else [()] * width
    columns = {
        name: list(values[position[name]]) if name in position else [None] * len(records)
        for name in entity.column_names
    }
    return ReadFile(path, columns, lines, rejects, extra, missing)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text or None


def _read_jsonl(path: Path, entity: Entity, text: str) -> ReadFile:
    columns: dict[str, list[str | None]] = {name: [] for name in entity.column_names}
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
            seen.update(obj)
            for name, values in columns.items():
                values.append(_as_text(obj.get(name)))
            lines.append(line_number)
    # A line may leave out an optional key; a required key missing from every line is a
    # file-level error, while one missing from some lines is quarantined row by row. JSON
    # lines routinely leave out empty optional keys, so those are not reported as missing.
    extra = _check_columns(path, entity, sorted(seen))[0] if lines else ()
    return ReadFile(path, columns, lines, rejects, extra)
