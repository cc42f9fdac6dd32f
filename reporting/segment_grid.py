"""Who the customers are: the RFM grid and segments (``marts.customer_rfm``) and the value
matrix (``marts.customer_value``), each with customer counts and revenue share."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from reporting.figures import BLUE, GREEN, ORANGE, drawing
from reporting.reads import read
from reporting.section import Chart, Section
from warehouse.model_outputs import CUSTOMER_VALUE

TITLE = "Segments and value"
CUSTOMER_RFM = "marts.customer_rfm"

RFM_SQL = f"""
    select r_score, f_score, rfm_segment, count(*) as customers, sum(monetary) as revenue
    from {CUSTOMER_RFM}
    group by all
"""
VALUE_SQL = f"""
    select value_quadrant, count(*) as customers, sum(current_value) as current_value,
        sum(clv_12m) as clv_12m
    from {CUSTOMER_VALUE.name}
    group by all
"""
QUADRANTS = {
    # quadrant: (column: current value low/high, row: predicted value low/high), colour
    "growth": ((0, 1), GREEN),
    "strategic": ((1, 1), BLUE),
    "marginal": ((0, 0), "#bbbbbb"),
    "basic": ((1, 0), ORANGE),
}


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def draw_rfm_grid(cells: pd.DataFrame) -> Chart:
    """Recency score (columns) by frequency score (rows), each cell with its customers, its
    share of the revenue and the segment most of its customers are in."""
    total = cells["revenue"].sum()
    per_cell = cells.groupby(["f_score", "r_score"]).agg(
        customers=("customers", "sum"), revenue=("revenue", "sum")
    )
    segment = (
        cells.sort_values("customers", ascending=False)
        .drop_duplicates(["f_score", "r_score"])
        .set_index(["f_score", "r_score"])["rfm_segment"]
    )
    counts = np.zeros((5, 5))
    with drawing(height=4.2) as d:
        (ax,) = d.axes
        ax.grid(False)
        for (f, r), row in per_cell.iterrows():
            counts[int(f) - 1, int(r) - 1] = row["customers"]
        image = ax.imshow(counts, cmap="Blues", origin="lower", aspect="auto")
        for (f, r), row in per_cell.iterrows():
            ax.text(
                int(r) - 1,
                int(f) - 1,
                f"{segment[(f, r)]}\n{row['customers']:,.0f} cust.\n"
                f"{_share(row['revenue'], total):.0%} rev.",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if row["customers"] > counts.max() * 0.6 else "black",
            )
        ax.set_xticks(range(5), [str(s) for s in range(1, 6)])
        ax.set_yticks(range(5), [str(s) for s in range(1, 6)])
        ax.set_xlabel("recency score (5: bought most recently)")
        ax.set_ylabel("frequency score (5: buys most often)")
        d.figure.colorbar(image, ax=ax, label="customers")
    return Chart(
        "RFM grid",
        "Every buyer placed by how recently (R) and how often (F) they buy; each cell names "
        "its main segment, its customers and its share of all revenue.",
        d.svg,
    )


def draw_segments(cells: pd.DataFrame) -> Chart:
    """Each RFM segment's share of the customers beside its share of the revenue."""
    segments = cells.groupby("rfm_segment")[["customers", "revenue"]].sum()
    shares = (segments / segments.sum().replace(0, np.nan)).sort_values("revenue")
    y = np.arange(len(shares))
    with drawing(height=1.0 + 0.3 * len(shares)) as d:
        (ax,) = d.axes
        ax.barh(y + 0.2, shares["customers"], height=0.4, color=BLUE, label="customers")
        ax.barh(y - 0.2, shares["revenue"], height=0.4, color=ORANGE, label="revenue")
        for i, (name, row) in enumerate(shares.iterrows()):
            count = segments.loc[name, "customers"]
            ax.text(
                max(row["customers"], row["revenue"]) + 0.005,
                i,
                f"{count:,.0f} cust., {row['revenue']:.0%} of revenue",
                va="center",
                fontsize=7,
            )
        ax.set_yticks(y, shares.index)
        ax.xaxis.set_major_formatter("{x:.0%}")
        ax.legend(frameon=False, loc="lower right")
    return Chart(
        "RFM segments: customers and revenue",
        "Share of buyers (blue) and of their lifetime net revenue (orange) in each segment: "
        "where a few customers carry much of the revenue, they deserve the most care.",
        d.svg,
    )


def draw_value_matrix(quadrants: pd.DataFrame) -> Chart:
    """The four value quadrants (current value by predicted 12-month value), each with its
    customers and its shares of current and predicted value."""
    total = quadrants[["customers", "current_value", "clv_12m"]].sum()
    by_name = quadrants.set_index("value_quadrant")
    with drawing(height=3.6) as d:
        (ax,) = d.axes
        ax.grid(False)
        for name, ((column, row), colour) in QUADRANTS.items():
            ax.add_patch(
                Rectangle((column, row), 1, 1, facecolor=colour, alpha=0.35, edgecolor="white")
            )
            if name in by_name.index:
                shares = {c: _share(by_name.loc[name, c], total[c]) for c in total.index}
                text = (
                    f"{name}\n{by_name.loc[name, 'customers']:,.0f} customers "
                    f"({shares['customers']:.0%})\n"
                    f"{shares['current_value']:.0%} of revenue so far\n"
                    f"{shares['clv_12m']:.0%} of predicted 12-month value"
                )
            else:
                text = f"{name}\nno customers"
            ax.text(column + 0.5, row + 0.5, text, ha="center", va="center", fontsize=8)
        ax.set_xlim(0, 2)
        ax.set_ylim(0, 2)
        ax.set_xticks([0.5, 1.5], ["lower current value", "higher current value"])
        ax.set_yticks([0.5, 1.5], ["lower predicted", "higher predicted"], rotation=90, va="center")
    return Chart(
        "Value matrix",
        "Buyers by the revenue they brought so far and the value predicted for the next 12 "
        "months (docs/value.md): keep the strategic, grow the growth quadrant.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The segments and value section."""
    part = Section(TITLE)
    if (cells := read(con, CUSTOMER_RFM, RFM_SQL, part.notes)) is not None:
        part.charts.extend([draw_rfm_grid(cells), draw_segments(cells)])
    why = "too little purchase history to fit the model"
    quadrants = read(con, CUSTOMER_VALUE.name, VALUE_SQL, part.notes, why)
    if quadrants is not None:
        part.charts.append(draw_value_matrix(quadrants))
    return part
