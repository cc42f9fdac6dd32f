"""What a report section holds: charts with a one-line caption, small tables, notes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chart:
    """One chart: its title, a one-line "what this shows" and the inline SVG."""

    title: str
    caption: str
    svg: str


@dataclass(frozen=True)
class Table:
    """A small table printed under the charts (counts and names only, never a customer)."""

    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


@dataclass(frozen=True)
class Section:
    """A titled part of the report. ``notes`` say what could not be drawn and why (a mart not
    built yet, a mart without rows), so a missing table shows as a sentence, not a crash."""

    title: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
