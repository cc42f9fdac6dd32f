"""Vectorised builders for the Arrow columns of the landing files: ids, money, dates, times,
strings picked from small vocabularies, and nulls."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .seasons import Window

_CENT = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))


_ID_CHUNK_ROWS = 10_000_000
"""Ids are built in pieces of this many: Arrow's padding reserves room for the widest text per
row, and past about 100M rows (the order rows of 3M customers) that is more than one string
array can hold (2 GiB)."""


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array | pa.ChunkedArray:
    """Ids such as ``C0000042``: ``prefix`` then ``numbers`` zero-padded to ``width`` digits (a
    chunked array when there are more than ``_ID_CHUNK_ROWS``)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    pieces = [
        pc.binary_join_element_wise(
            prefix,
            pc.utf8_lpad(pc.cast(pa.array(piece), pa.string()), width=width, padding="0"),
            "",
        )
        for piece in np.split(numbers, range(_ID_CHUNK_ROWS, len(numbers), _ID_CHUNK_ROWS))
    ]
    return pieces[0] if len(pieces) == 1 else pa.chunked_array(pieces, pa.string())


def id_width(count: int, minimum: int) -> int:
    """Digits needed to number ``count`` things, at least ``minimum``."""
    return max(minimum, len(str(max(count, 1))))


def money(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Decimal amounts with 2 places from integer cents."""
    whole = pc.cast(pa.array(np.asarray(cents, dtype=np.int64), mask=null), pa.decimal128(19, 0))
    return pc.multiply(whole, _CENT)


def timestamps(seconds: np.ndarray, window: Window, null: np.ndarray | None = None) -> pa.Array:
    """Timestamps from seconds after the first window day's midnight (may be negative)."""
    epoch = np.asarray(seconds, dtype=np.int64) + window.epoch_second
    return pa.array(epoch, type=pa.timestamp("s"), mask=null)


def dates(days: np.ndarray, window: Window, null: np.ndarray | None = None) -> pa.Array:
    """Dates from day indexes relative to the first window day (may be negative)."""
    epoch = (np.asarray(days, dtype=np.int64) + window.epoch_day).astype(np.int32)
    return pa.array(epoch, type=pa.date32(), mask=null)


def integers(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), mask=null)


def booleans(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), mask=null)


def pick(
    vocabulary: Sequence[str] | pa.Array, index: np.ndarray, null: np.ndarray | None = None
) -> pa.Array:
    """Strings ``vocabulary[index]``; null where ``null`` is true."""
    vocab = (
        vocabulary if isinstance(vocabulary, pa.Array) else pa.array(list(vocabulary), pa.string())
    )
    return vocab.take(pa.array(np.asarray(index, dtype=np.int64), mask=null))


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation (a null part makes the result null)."""
    return pc.binary_join_element_wise(*parts, "")


def with_nulls(array: pa.Array, null: np.ndarray) -> pa.Array:
    """``array`` with the positions where ``null`` is true set to null."""
    return pc.if_else(
        pa.array(np.asarray(null, dtype=bool)), pa.nulls(len(array), array.type), array
    )


def weighted_choice(
    rng: np.random.Generator, weights: Sequence[float] | np.ndarray, n: int
) -> np.ndarray:
    """``n`` indexes into ``weights``, drawn with probability proportional to the weights."""
    w = np.asarray(weights, dtype=float)
    cdf = np.cumsum(w) / w.sum()
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(w) - 1)


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted ``groups`` array."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    run_lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, run_lengths)
