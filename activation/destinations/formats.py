"""The export files: one per destination, audience and day, each with only the fields its tool
needs (documented in docs/destinations.md).

Files are snapshots of the day's exportable members, sorted, written to a temporary file and
renamed into place, so a re-run of a day replaces them with byte-identical files and a reader
never sees half a file.

Every CSV is spreadsheet-safe (``spreadsheet_safe``): a marketer opens these files in Excel or
LibreOffice, where a name like ``=HYPERLINK(...)`` would run as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from activation.destinations.identifiers import google_email, sha256_column
from activation.destinations.members import MARKETING

CSV_ENCODING = "utf-8"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)."""
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
"""A cell that is only a number (an E.164 phone ``+8613800000000``, ``-12.5``): a spreadsheet
reads it as that number, never as a formula that calls or references anything."""
_RISKY_TEXT = r"^[=+\-@\t\r]"
""":data:`FORMULA_TRIGGERS` as a pattern for Arrow's regex engine."""
_ASCII_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"
"""The cells of :data:`_NUMBER` in ASCII digits: Arrow's regexes know no other digits, so a risky
cell that fails it is decided by :func:`spreadsheet_cell` itself."""
_NEEDS_QUOTES = r'[",\r\n]'
"""The characters that make Python's csv writer (pandas' ``to_csv``) quote a field, with its
minimal quoting and CRLF rows."""


@dataclass(frozen=True)
class FileFormat:
    """A file destination: which members it takes and the columns its tool imports.

    ``columns`` maps each output column to the export-row column it is read from. With
    ``payload`` the audience's payload fields follow as columns of their own.
    """

    destination: str
    channel: str | None
    columns: dict[str, str]
    suffix: str = "csv"
    payload: bool = True


# Mailchimp-style audience import; Tags carries the audience, so the tool's automation starts
# on the tag. "New" says whether this is the customer's first day in the audience.
EMAIL = FileFormat(
    "email",
    "email",
    {
        "Email Address": "address",
        "Name": "name",
        "Customer ID": "customer_id",
        "Tags": "audience",
        "Template": "template_key",
        "New": "is_new_entry",
    },
)
SMS = FileFormat(
    "sms",
    "sms",
    {
        "phone": "address",
        "name": "name",
        "customer_id": "customer_id",
        "audience": "audience",
        "template": "template_key",
        "new_entry": "is_new_entry",
    },
)
# WeChat official-account template messages address a follower by openid; WeChat knows the
# name, so the file carries none.
WECHAT = FileFormat(
    "wechat",
    "wechat",
    {
        "openid": "address",
        "customer_id": "customer_id",
        "audience": "audience",
        "template_id": "template_key",
        "new_entry": "is_new_entry",
    },
)
CALLS = FileFormat(
    "phone",
    "phone",
    {
        "phone": "address",
        "name": "name",
        "customer_id": "customer_id",
        "audience": "audience",
        "script": "template_key",
        "new_entry": "is_new_entry",
    },
)
PARQUET = FileFormat(
    "parquet",
    None,
    {
        "customer_id": "customer_id",
        "audience": "audience",
        "kind": "kind",
        "channel": "channel",
        "address": "address",
        "template_key": "template_key",
        "is_new_entry": "is_new_entry",
        "payload": "payload",
    },
    suffix="parquet",
    payload=False,
)
FILE_FORMATS = (EMAIL, SMS, WECHAT, CALLS, PARQUET)


@dataclass(frozen=True)
class AdFormat:
    """An ad-platform audience: SHA-256 hashes of normalised identifiers, nothing else."""

    destination: str
    email_column: str
    phone_column: str
    email: Callable[[object], str | None]
    phone: Callable[[object], str | None]


def _e164(phone: object) -> str | None:
    return phone if isinstance(phone, str) else None


def _e164_digits(phone: object) -> str | None:
    return phone.lstrip("+") if isinstance(phone, str) else None


# Google Customer Match CSV headers; Meta custom audience file headers. Google hashes E.164
# with its plus, Meta the digits only.
GOOGLE_ADS = AdFormat("google_ads", "Email", "Phone", google_email, _e164)
META_ADS = AdFormat("meta_ads", "email", "phone", lambda e: e, _e164_digits)
AD_FORMATS = (GOOGLE_ADS, META_ADS)


def payload_columns(payloads: pd.Series) -> pd.DataFrame:
    """The JSON payloads as columns, one per key (sorted); values as text, nested as JSON."""
    # Members of an audience share few payloads: parse and convert each distinct one once,
    # then spread its cells to the rows that hold it.
    codes, distinct = pd.factorize(payloads, use_na_sentinel=True)
    records = _parsed(distinct)
    keys = sorted({k for r in records for k in r})
    records.append({})  # what the code -1 (a null payload) takes
    data = {k: _payload_cells(records, k)[codes] for k in keys}
    return pd.DataFrame(data, index=payloads.index, columns=keys, dtype=object)


def _parsed(payloads: np.ndarray) -> list[dict]:
    """Every payload parsed (an empty or null one as ``{}``), in one call to the JSON parser
    when they are all JSON text."""
    texts = [p for p in payloads if isinstance(p, str) and p]
    if len(texts) == len(payloads):
        records = json.loads(f"[{','.join(texts)}]")
        if len(records) == len(texts):  # else some text was not one JSON value: parse one by one
            return records
    return [json.loads(p) if isinstance(p, str) and p else {} for p in payloads]


def _payload_cells(records: list[dict], key: str) -> np.ndarray:
    """``key``'s value in every record as a file cell: text as it is, anything else as JSON."""
    return np.array([_payload_cell(r.get(key)) for r in records], dtype=object)


def _payload_cell(value: object) -> object:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)  # what json.dumps writes of them, without its call
    return json.dumps(value, ensure_ascii=False)


def file_rows(fmt: FileFormat, members: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``fmt``'s file for one audience's export rows."""
    if fmt.channel is not None:
        members = members[members["channel"] == fmt.channel]
    if not _strictly_increasing(members["customer_id"]):  # export rows come sorted already
        members = members.sort_values("customer_id")
    out = pd.DataFrame({name: members[source] for name, source in fmt.columns.items()})
    if fmt.payload:
        extra = payload_columns(members["payload"])
        out = pd.concat([out, extra.drop(columns=list(out.columns), errors="ignore")], axis=1)
    return out.reset_index(drop=True)


def _strictly_increasing(values: pd.Series) -> bool:
    """Whether ``values`` are sorted and distinct, so that sorting them changes nothing."""
    cells = values.to_numpy(dtype=object)
    try:
        return bool((cells[1:] > cells[:-1]).all())
    except TypeError:  # a null among the ids: left to sort_values
        return False


def ad_members(members: pd.DataFrame) -> pd.DataFrame:
    """The export rows ad audiences take: marketing members with an identifier they allow."""
    return members[
        (members["kind"] == MARKETING) & (members["ad_email"].notna() | members["ad_phone"].notna())
    ]


def ad_hashes(fmt: AdFormat, members: pd.DataFrame) -> pd.DataFrame:
    """``customer_id`` and the two hashed identifier columns of ``fmt`` (null where unknown)."""
    return pd.DataFrame(
        {
            "customer_id": members["customer_id"].to_numpy(),
            fmt.email_column: _hashed_as(fmt.email, members["ad_email"]),
            fmt.phone_column: _hashed_as(fmt.phone, members["ad_phone"]),
        }
    )


def _hashed_as(normalise: Callable[[object], str | None], values: pd.Series) -> pd.Series:
    """The hashes of ``values`` normalised, as pandas text (what it made of them before)."""
    return sha256_column([normalise(v) for v in values.to_numpy(dtype=object)]).to_pandas()


def spreadsheet_cell(value: object) -> object:
    """``value`` as a spreadsheet may safely read it: text starting with ``=``, ``+``, ``-``,
    ``@``, tab or carriage return gets a leading single quote (OWASP's rule), unless it is only a
    number; anything else, and every non-text value, is returned as it is."""
    if not isinstance(value, str) or not value.startswith(FORMULA_TRIGGERS):
        return value
    return value if _NUMBER.fullmatch(value) else "'" + value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell made safe by ``spreadsheet_cell``. Hex hashes and
    numbers never change, and a cell already made safe stays as it is, so applying it twice
    changes nothing."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if values.dtype == object:
            # One cheap test per cell; only the few risky cells are rewritten.
            risky = np.fromiter(
                (isinstance(v, str) and v.startswith(FORMULA_TRIGGERS) for v in values),
                dtype=bool,
                count=len(values),
            )
            if risky.any():
                cells = values.to_numpy(dtype=object, copy=True)
                cells[risky] = [spreadsheet_cell(v) for v in cells[risky]]
                safe[column] = pd.Series(cells, index=values.index, dtype=values.dtype)
        elif pd.api.types.is_string_dtype(values):
            # Arrow-backed text is slow to walk cell by cell: find the few cells to change
            # with one vectorised test and rewrite only those.
            risky = values.str.startswith(FORMULA_TRIGGERS).fillna(False).to_numpy(dtype=bool)
            if risky.any():
                cells = [spreadsheet_cell(v) for v in values[risky]]
                safe[column] = values.mask(risky, pd.Series(cells, index=values.index[risky]))
    return safe


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as spreadsheet-safe CSV to ``path`` atomically (temporary file, then
    rename)."""
    columns = _csv_text(frame)
    if columns is None:
        write_safe_csv(spreadsheet_safe(frame), path)
    else:
        _write_csv_text(frame.columns, [_safe_text(c) for c in columns], path)


def write_safe_csv(safe: pd.DataFrame, path: Path) -> None:
    """:func:`write_csv` of a frame already made :func:`spreadsheet_safe` (one pass over a
    frame then split into many small files)."""
    columns = _csv_text(safe)
    if columns is None:
        # RFC 4180's CRLF: the csv writer then also quotes a field holding a bare carriage
        # return, which would otherwise split the row in every reader.
        _atomic(
            path,
            lambda tmp: safe.to_csv(tmp, index=False, encoding=CSV_ENCODING, lineterminator="\r\n"),
        )
    else:
        _write_csv_text(safe.columns, columns, path)


# The bytes pandas' to_csv writes, built column by column in Arrow instead of row by row in
# Python: the same header, minimal quoting, CRLF rows and empty cells for nulls
# (tests/unit/test_csv_bytes.py compares them with to_csv on hostile values).

ARROW_WRITER_MIN_ROWS = 1_000
"""Below this many rows pandas' to_csv is the quicker writer (the per-column Arrow calls cost
more than they save): the account managers' hundreds of small files."""


def _csv_text(frame: pd.DataFrame) -> list[pa.Array] | None:
    """Every column of ``frame`` as the text to_csv writes of it, null for an empty cell; None
    when that is not known for sure (a column neither text nor bool, a text column holding
    something else, a frame of one column, whose empty cell to_csv writes as ``""``), or for a
    frame smaller than :data:`ARROW_WRITER_MIN_ROWS`."""
    if len(frame.columns) < 2 or len(frame) < ARROW_WRITER_MIN_ROWS:
        return None
    columns = [_text_cells(frame.iloc[:, i]) for i in range(len(frame.columns))]
    return None if any(c is None for c in columns) else columns


def _text_cells(values: pd.Series) -> pa.Array | None:
    if values.dtype == bool:
        return pa.array(np.where(values.to_numpy(), "True", "False"), type=pa.large_string())
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return None
    try:
        cells = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError):
        return None  # not only text and nulls: left to pandas
    return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells


def _safe_text(cells: pa.Array) -> pa.Array:
    """:func:`spreadsheet_cell` of every cell: the few risky cells that are not plainly numbers
    are rewritten in Python, the rest is tested in Arrow."""
    if not _any_starts_with(cells, _RISKY_FIRST_BYTES):
        return cells
    risky = pc.fill_null(pc.match_substring_regex(cells, _RISKY_TEXT), False)
    if pc.any(risky).as_py():
        risky = pc.and_kleene(risky, pc.invert(pc.match_substring_regex(cells, _ASCII_NUMBER)))
    if not pc.any(risky).as_py():
        return cells
    rewritten = [spreadsheet_cell(v) for v in cells.filter(risky).to_pylist()]
    return pc.replace_with_mask(cells, risky, pa.array(rewritten, type=cells.type))


def _quoted(cells: pa.Array) -> pa.Array:
    if not _any_holds(cells, _QUOTED_BYTES):
        return pc.fill_null(cells, "")
    needs_quotes = pc.fill_null(pc.match_substring_regex(cells, _NEEDS_QUOTES), False)
    if pc.any(needs_quotes).as_py():
        quote = pa.scalar('"', cells.type)
        escaped = pc.replace_substring(cells, '"', '""')
        joined = pc.binary_join_element_wise(quote, escaped, quote, pa.scalar("", cells.type))
        cells = pc.if_else(needs_quotes, joined, cells)
    return pc.fill_null(cells, "")


# Most columns hold no cell to quote or make safe: one look at their UTF-8 bytes says so, before
# any test cell by cell. These ASCII bytes never occur inside a multi-byte character.
_QUOTED_BYTES = np.isin(np.arange(256), [ord(c) for c in '",\r\n'])
_RISKY_FIRST_BYTES = np.isin(np.arange(256), [ord(c) for c in FORMULA_TRIGGERS])


def _text_bytes(cells: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The cells' offsets and the bytes of their data buffer."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int64)[cells.offset :][: len(cells) + 1]
    data = cells.buffers()[2]
    text = np.empty(0, np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    return offsets, text


def _any_holds(cells: pa.Array, byte_set: np.ndarray) -> bool:
    """Whether some cell may hold a byte of ``byte_set`` (null cells included: a false alarm only
    costs the exact test)."""
    if len(cells) == 0:
        return False
    offsets, data = _text_bytes(cells)
    return bool(byte_set[data[offsets[0] : offsets[-1]]].any())


def _any_starts_with(cells: pa.Array, byte_set: np.ndarray) -> bool:
    """Whether some cell may start with a byte of ``byte_set``."""
    if len(cells) == 0:
        return False
    offsets, data = _text_bytes(cells)
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    return bool(byte_set[data[starts]].any())


def _write_csv_text(names: pd.Index, columns: list[pa.Array], path: Path) -> None:
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(names)
    text = pa.large_string()
    rows = pc.binary_join_element_wise(*map(_quoted, columns), pa.scalar(",", text))
    rows = pc.binary_join_element_wise(rows, pa.scalar("\r\n", text), pa.scalar("", text))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset :][: len(rows) + 1]
    body = rows.buffers()[2][offsets[0] : offsets[-1]] if len(rows) else b""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            handle.write(header.getvalue().encode(CSV_ENCODING))
            handle.write(body)

    _atomic(path, write)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet to ``path`` atomically (temporary file, then rename)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_file(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` in the format its suffix says."""
    (write_parquet if path.suffix == ".parquet" else write_csv)(frame, path)


def read_file(path: Path) -> pd.DataFrame:
    """An export file as written (every column as text for CSV)."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=CSV_ENCODING)


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)
