"""Reading the marts a section needs, tolerating the ones not built yet."""

from __future__ import annotations

import duckdb
import pandas as pd

from warehouse.table_spec import table_exists


def not_built(table: str) -> str:
    """The note of a section whose mart is missing."""
    return f"{table} is not built yet: this part appears once a run has built it."


def no_rows(table: str, why: str = "") -> str:
    """The note of a section whose mart is empty."""
    return f"{table} has no rows yet" + (f" ({why})." if why else ".")


def read(
    con: duckdb.DuckDBPyConnection, table: str, sql: str, notes: list[str], why_empty: str = ""
) -> pd.DataFrame | None:
    """The result of ``sql`` (which reads ``table``), or None with a note in ``notes`` when the
    table is missing or the query returns no rows."""
    if not table_exists(con, table):
        notes.append(not_built(table))
        return None
    frame = con.execute(sql).df()
    if frame.empty:
        notes.append(no_rows(table, why_empty))
        return None
    return frame
