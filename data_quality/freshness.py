"""Source freshness: how long ago a source last delivered.

A delivery is a day folder with at least one file of the source (even a file without rows: an
empty day is a delivery). Its age runs from the end of that day, in shop time, to now. Not
Dagster's materialisation time: the nightly run materialises every day, delivered or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb


@dataclass(frozen=True)
class SourceFreshness:
    """The newest delivery of a source and how old it is."""

    source: str
    last_delivery: date | None
    hours_since: float | None
    max_hours: float

    @property
    def fresh(self) -> bool:
        return self.hours_since is not None and self.hours_since <= self.max_hours

    def describe(self) -> str:
        """One line for logs and metadata."""
        if self.last_delivery is None:
            return f"{self.source}: no delivery loaded yet"
        return (
            f"{self.source}: last delivery {self.last_delivery}, {self.hours_since:,.1f} hours "
            f"ago (limit {self.max_hours:g})"
        )


def source_freshness(
    con: duckdb.DuckDBPyConnection, source: str, now: datetime, max_hours: float
) -> SourceFreshness:
    """The freshness of ``source`` at ``now`` (naive, shop time) from the loader's log."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = '_loads'"
    ).fetchone()[0]
    last = None
    if exists:
        last = con.execute(
            "select max(partition_date) from raw._loads where source = ? and files > 0", [source]
        ).fetchone()[0]
    if last is None:
        return SourceFreshness(source, None, None, max_hours)
    delivered_by = datetime.combine(last + timedelta(days=1), time())
    hours = (now.replace(tzinfo=None) - delivered_by).total_seconds() / 3600
    return SourceFreshness(source, last, max(hours, 0.0), max_hours)
