"""Reading one delivered file into rows of text, keeping what cannot be read as rejects.

Reading knows only the file format (CSV or JSON Lines) and the header; the column types and
value rules of the contract are checked afterwards, in DuckDB (see `validation.py`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.contract import Entity


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

    @property
    def rows_read(self) -> int:
        return len(self.row_numbers) + len(self.rejects)


def read_delivery_file(path: Path, entity: Entity) -> ReadFile:
    """Read ``path`` as a delivery of ``entity``.

    Raises DeliveryError when the whole file is unusable: not UTF-8, no header, or required
    columns missing. Rows with the wrong number of fields (CSV) or that are not a JSON object
    (JSONL) become rejects with their line number.
    """
    try:
        if entity.format == "csv":
            return _read_csv(path, entity)
        return _read_jsonl(path, entity)
    except UnicodeDecodeError as exc:
        raise DeliveryError(
            f"{path}: not valid UTF-8 at byte {exc.start} (a GBK export?); "
            "re-export the file as UTF-8 and load the day again"
        ) from None


def _check_columns(path: Path, entity: Entity, present: list[str]) -> tuple[str, ...]:
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        raise DeliveryError(
            f"{path}: missing required column(s) {', '.join(missing)}; "
            f"see docs/data_contract.md for the {entity.name} columns"
        )
    return tuple(c for c in present if c not in entity.column_names)


def _read_csv(path: Path, entity: Entity) -> ReadFile:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DeliveryError(f"{path}: empty file without a header row")
        header = [h.strip() for h in header]
        extra = _check_columns(path, entity, header)
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
    return ReadFile(path, columns, lines, rejects, extra)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text or None


def _read_jsonl(path: Path, entity: Entity) -> ReadFile:
    columns: dict[str, list[str | None]] = {name: [] for name in entity.column_names}
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig") as handle:
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
    # file-level error, while one missing from some lines is quarantined row by row.
    extra = _check_columns(path, entity, sorted(seen)) if lines else ()
    return ReadFile(path, columns, lines, rejects, extra)
