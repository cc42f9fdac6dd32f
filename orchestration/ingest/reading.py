"""Reading one delivered file into rows of text, keeping what cannot be read as rejects.

Reading knows only the file format (CSV or JSON Lines) and the header; the column types and
value rules of the contract are checked afterwards, in DuckDB (see `validation.py`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.contract import Entity


class DeliveryError(Exception):
    """A delivery that cannot be loaded at all; the message names the file and what to do."""


@dataclass
class ReadFile:
    """The rows of one file as text (None for empty), with the rows that could not be read."""

    path: Path
    rows: pd.DataFrame
    """One column per contract column, plus `_row_number` (line in the file)."""
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    """(line number, reason, raw record) for rows that could not be read."""
    extra_columns: tuple[str, ...] = ()

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.rejects)


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


def _frame(entity: Entity, records: list[dict[str, str | None]], lines: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(entity.column_names))
    frame = frame.astype(object).where(frame.notna(), None)
    frame["_row_number"] = pd.Series(lines, dtype="int64")
    return frame


def _read_csv(path: Path, entity: Entity) -> ReadFile:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DeliveryError(f"{path}: empty file without a header row")
        header = [h.strip() for h in header]
        extra = _check_columns(path, entity, header)
        wanted = [(i, name) for i, name in enumerate(header) if name in entity.column_names]
        width = len(header)
        records: list[dict[str, str | None]] = []
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
                records.append({name: (fields[i] or None) for i, name in wanted})
                lines.append(start)
            start = reader.line_num + 1
    return ReadFile(path, _frame(entity, records, lines), rejects, extra)


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
    records: list[dict[str, str | None]] = []
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
            records.append({name: _as_text(obj.get(name)) for name in entity.column_names})
            lines.append(line_number)
    # A line may leave out an optional key; a required key missing from every line is a
    # file-level error, while one missing from some lines is quarantined row by row.
    extra = _check_columns(path, entity, sorted(seen)) if records else ()
    return ReadFile(path, _frame(entity, records, lines), rejects, extra)
