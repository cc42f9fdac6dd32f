"""Stable control groups: whether a customer is held out of an audience.

The assignment is a hash of the audience and the customer, so it is the same every night and on
every machine, independent between audiences, and needs no stored state. A customer who leaves
an audience and comes back is in the same group again.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

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


def holdout_groups(audiences: pd.Series, customer_ids: pd.Series, share: float) -> pd.Series:
    """:func:`holdout_group` for aligned columns of audiences and customer ids."""
    fractions = np.fromiter(
        (holdout_fraction(a, c) for a, c in zip(audiences, customer_ids, strict=True)),
        dtype=float,
        count=len(customer_ids),
    )
    return pd.Series(
        np.where(fractions < share, CONTROL, TREATMENT), index=customer_ids.index, name="group"
    )
