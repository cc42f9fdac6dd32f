"""The export CSV writer (Arrow, column by column) writes the very bytes pandas' to_csv wrote
of the spreadsheet-safe frame: quoting, CRLF rows, empty cells, booleans, the safe rule."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from activation.destinations import formats
from activation.destinations.formats import (
    _csv_text,
    spreadsheet_safe,
    write_csv,
    write_safe_csv,
)

NASTY = [
    'say "hi"',
    '"',
    '""',
    "a,b",
    ",",
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\nrow",
    "\ttab",
    "in\ttab",
    "=SUM(A1)",
    "+x@example.com",
    "+8613800000000",
    "-12.5",
    "-12.",
    "+1e5",
    "-",
    "@",
    "=",
    "\r=1+1",
    "'=already",
    "＋１２",
    "-١٢٣",
    "+12\n",
    "张伟",
    "Zoë 😀",
    "",
    " ",
    " padded ",
    "\x00nul",
    "\u2028sep",
    "\x85nel",
    "a\\b",
    'mixed, "all"\r\n=1',
]
ALPHABET = ['"', ",", "\r", "\n", "\t", "=", "+", "-", "@", "'", " ", "1", "9", ".", "a", "é", "张"]


@pytest.fixture(autouse=True)
def _arrow_writer_for_every_size(monkeypatch):
    monkeypatch.setattr(formats, "ARROW_WRITER_MIN_ROWS", 0)


def _pandas_bytes(frame: pd.DataFrame, tmp_path: Path, safe: bool = True) -> bytes:
    path = tmp_path / "pandas.csv"
    frame = spreadsheet_safe(frame) if safe else frame
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\r\n")
    return path.read_bytes()


def _written(frame: pd.DataFrame, tmp_path: Path, write=write_csv) -> bytes:
    assert _csv_text(frame) is not None, "the frame takes the Arrow writer"
    path = tmp_path / "arrow.csv"
    write(frame, path)
    return path.read_bytes()


def _hostile_frame(values: list[object], dtype: str) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "text": pd.Series(values, dtype=dtype),
            "reversed": pd.Series(values[::-1], dtype=dtype),
            "new": np.arange(n) % 2 == 0,
            'head,"er"': pd.Series(["x"] * n, dtype=dtype),
        }
    )


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_hostile_cells_give_the_bytes_of_to_csv(tmp_path, dtype):
    frame = _hostile_frame([*NASTY, None, np.nan], dtype)
    assert _written(frame, tmp_path) == _pandas_bytes(frame, tmp_path)


@pytest.mark.parametrize("seed", range(5))
def test_random_text_gives_the_bytes_of_to_csv(tmp_path, seed):
    rng = random.Random(seed)
    values = [
        None if rng.random() < 0.1 else "".join(rng.choices(ALPHABET, k=rng.randint(0, 6)))
        for _ in range(2000)
    ]
    frame = _hostile_frame(values, "object")
    assert _written(frame, tmp_path) == _pandas_bytes(frame, tmp_path)


def test_an_already_safe_frame_is_written_as_it_is(tmp_path):
    frame = _hostile_frame(NASTY, "object")
    safe = spreadsheet_safe(frame)
    assert _written(safe, tmp_path, write_safe_csv) == _pandas_bytes(safe, tmp_path, safe=False)


def test_no_rows_and_all_nulls(tmp_path):
    empty = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=bool)})
    assert _written(empty, tmp_path) == _pandas_bytes(empty, tmp_path) == b"a,b\r\n"
    nulls = pd.DataFrame({"a": [None, None], "b": [np.nan, None]}, dtype=object)
    assert _written(nulls, tmp_path) == _pandas_bytes(nulls, tmp_path) == b"a,b\r\n,\r\n,\r\n"


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", None, "=1"]}),  # one column: to_csv writes "" for an empty row
        pd.DataFrame({"n": [-1.5, 2.0], "s": ["a", "b"]}),  # numbers: pandas' own formatting
        pd.DataFrame({"mixed": ["=1+1", 7, True], "s": ["a", "b", "c"]}, dtype=object),
        pd.DataFrame({"b": pd.array([True, None], dtype="boolean"), "s": ["a", "b"]}),
    ],
)
def test_other_frames_are_left_to_pandas(tmp_path, frame):
    assert _csv_text(frame) is None
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    assert path.read_bytes() == _pandas_bytes(frame, tmp_path)


def test_small_frames_go_to_pandas(monkeypatch):
    monkeypatch.setattr(formats, "ARROW_WRITER_MIN_ROWS", 3)
    assert _csv_text(pd.DataFrame({"a": ["x", "y"], "b": ["z", "w"]})) is None
    assert _csv_text(pd.DataFrame({"a": ["x", "y", "v"], "b": ["z", "w", "u"]})) is not None
