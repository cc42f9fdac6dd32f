"""Movement between segments since the previous snapshot (``marts.segment_migrations``): for
each dimension (lifecycle stage, RFM segment, value quadrant, tier), how many customers moved
from which value to which."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from reporting.figures import drawing
from reporting.reads import read
from reporting.section import Chart, Section

TITLE = "Lifecycle and segment migration"
SEGMENT_MIGRATIONS = "marts.segment_migrations"

# The latest step only: the newest snapshot and the one just before it (a month earlier when
# snapshots are monthly).
SQL = f"""
    with latest as (
        select max(to_snapshot_date) as to_snapshot_date from {SEGMENT_MIGRATIONS}
    ),
    step as (
        select latest.to_snapshot_date, max(m.from_snapshot_date) as from_snapshot_date
        from {SEGMENT_MIGRATIONS} m
        inner join latest using (to_snapshot_date)
        group by all
    )
    select m.from_snapshot_date, m.to_snapshot_date, m.dimension, m.from_value, m.to_value,
        sum(m.customers)::double as customers
    from {SEGMENT_MIGRATIONS} m
    inner join step using (from_snapshot_date, to_snapshot_date)
    group by all
    order by m.dimension, m.from_value, m.to_value
"""


NONE = "none"
"""What segment_migrations calls a missing value (no purchase yet, no score that night)."""
ORDERS = {
    "lifecycle_stage": ("prospect", "new", "repeat", "loyal", "at_risk", "churned"),
    "tier": ("standard", "silver", "gold"),
    "value_quadrant": ("strategic", "growth", "basic", "marginal"),
}
"""The natural order of a dimension's values (the others sort by name), so that in a stage's
matrix the cells right of the diagonal are moves towards churn."""


def ordered(values: set[str], dimension: str) -> list[str]:
    """``values`` in the dimension's natural order: no value first, then the known values in
    ``ORDERS``, then any other by name."""
    known = ORDERS.get(dimension, ())
    rank = {value: i for i, value in enumerate(known)}
    return sorted(values, key=lambda v: (v != NONE, rank.get(v, len(known)), v))


def _label(value: object) -> str:
    return NONE if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def draw_matrix(moves: pd.DataFrame, dimension: str) -> Chart:
    """From-value (rows) by to-value (columns) of one dimension, each cell the customers who
    made that move; the title says how many changed value."""
    rows = moves.assign(
        from_value=moves["from_value"].map(_label), to_value=moves["to_value"].map(_label)
    )
    grid = rows.pivot_table(
        index="from_value", columns="to_value", values="customers", aggfunc="sum", fill_value=0
    )
    values = ordered(set(grid.index) | set(grid.columns), dimension)
    grid = grid.reindex(index=values, columns=values, fill_value=0)
    counts = grid.to_numpy(dtype=float)
    total = counts.sum()
    moved = total - np.trace(counts)
    start, end = (
        pd.Timestamp(moves[c].iloc[0]).date() for c in ("from_snapshot_date", "to_snapshot_date")
    )
    with drawing(height=1.4 + 0.32 * len(values)) as d:
        (ax,) = d.axes
        ax.grid(False)
        ax.imshow(np.log1p(counts), cmap="Purples", aspect="auto")
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(
                    j,
                    i,
                    f"{n:,.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if np.log1p(n) > np.log1p(counts.max()) * 0.7 else "black",
                )
        ax.set_xticks(range(len(values)), values, rotation=30, ha="right")
        ax.set_yticks(range(len(values)), values)
        ax.set_xlabel(f"on {end}")
        ax.set_ylabel(f"on {start}")
        ax.set_title(
            f"{dimension}: {moved:,.0f} of {total:,.0f} customers "
            f"({moved / total if total else 0:.0%}) changed"
        )
    return Chart(
        f"Migration of {dimension}",
        f"Customers by their {dimension} on {start} (rows) and on {end} (columns); the "
        "diagonal stayed put, cells off it moved.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The migration section: one matrix per dimension of the latest snapshot step."""
    part = Section(TITLE)
    if (moves := read(con, SEGMENT_MIGRATIONS, SQL, part.notes)) is not None:
        for dimension, rows in moves.groupby("dimension", sort=True):
            part.charts.append(draw_matrix(rows, str(dimension)))
    return part
