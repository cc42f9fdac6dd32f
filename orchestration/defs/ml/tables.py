"""Typed frames for the tables model assets write, so a table has the same columns and types
whether it holds a million rows or none (an empty mart after ``NotEnoughHistory``), and dbt
models that read it as a source always find them."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

_TYPES = {
    "string": pd.StringDtype(),
    "date": pd.ArrowDtype(pa.date32()),
    "int64": "int64",
    "float64": "float64",
    "bool": pd.BooleanDtype(),
}


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` reduced to ``columns`` (name -> 'string', 'date', 'int64', 'float64' or 'bool'), in
    that order and cast to those types; missing columns fail, an empty frame gives an empty
    table with the right columns."""
    if frame.empty:
        return pd.DataFrame(
            {name: pd.Series([], dtype=_TYPES[kind]) for name, kind in columns.items()}
        )
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise KeyError(f"columns missing from the table to write: {', '.join(missing)}")
    out = frame[list(columns)].reset_index(drop=True)
    for name, kind in columns.items():
        if kind == "date":
            out[name] = pd.to_datetime(out[name]).astype(_TYPES["date"])
        else:
            out[name] = out[name].astype(_TYPES[kind])
    return out
