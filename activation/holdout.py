"""Stable control groups: whether a customer is held out of an audience.

The assignment is a hash of the audience and the customer, so it is the same every night and on
every machine, independent between audiences, and needs no stored state. A customer who leaves
an audience and comes back is in the same group again.
"""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

TREATMENT = "treatment"
CONTROL = "control"
_SCALE = float(2**64)


def holdout_fraction(audience: str, customer_id: str) -> float:
    """A number in [0, 1), uniform over customers, fixed for the pair (audience, customer)."""
    digest = hashlib.sha256(f"{audience}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def holdout_group(audience: str, customer_id: str, share: float) -> str:
    """``control`` for a stable ``share`` of each audience's customers, else ``treatment``."""
    return CONTROL if holdout_fraction(audience, customer_id) < share else TREATMENT


# holdout_fraction in SQL: the same SHA-256, its first 8 bytes as an unsigned integer, converted
# to the nearest double and divided by 2**64, so the very same number, for a million members in
# a fraction of the time Python's per-row hashing takes.
_FRACTIONS_SQL = """
select cast(('0x' || left(sha256(audience || chr(31) || customer_id), 16))::ubigint as double)
    / 18446744073709551616.0 as fraction
from pairs
"""


def holdout_groups(audiences: pd.Series, customer_ids: pd.Series, share: float) -> pd.Series:
    """:func:`holdout_group` for aligned columns of audiences and customer ids."""
    if len(audiences) != len(customer_ids):
        raise ValueError("audiences and customer_ids differ in length")
    pairs = pa.table(
        {
            "audience": pa.array(audiences.astype(object), type=pa.string()),
            "customer_id": pa.array(customer_ids.astype(object), type=pa.string()),
        }
    )
    with duckdb.connect() as con:
        con.register("pairs", pairs)
        fractions = con.execute(_FRACTIONS_SQL).fetchnumpy()["fraction"]
    return pd.Series(
        np.where(fractions < share, CONTROL, TREATMENT), index=customer_ids.index, name="group"
    )
