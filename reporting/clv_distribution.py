"""Predicted customer lifetime value (``marts.customer_value``): how the next 12 months' value
is spread over the buyers."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from reporting.figures import BLUE, ORANGE, RED, drawing
from reporting.reads import read
from reporting.section import Chart, Section
from warehouse.model_outputs import CUSTOMER_VALUE

TITLE = "Customer lifetime value"
SHOWN_QUANTILE = 0.99
"""The histogram stops here; the few customers beyond are counted in the title."""
TOP_SHARE = 0.10

SQL = f"select clv_12m from {CUSTOMER_VALUE.name} where clv_12m is not null"


def draw_distribution(values: pd.DataFrame) -> Chart:
    """A histogram of ``clv_12m`` up to its 99th percentile, with the median and mean marked;
    the title gives the share of the predicted value held by the top tenth of buyers."""
    clv = np.sort(values["clv_12m"].to_numpy(dtype=float))[::-1]
    total = clv.sum()
    top = clv[: max(1, int(np.ceil(len(clv) * TOP_SHARE)))].sum()
    cap = float(np.quantile(clv, SHOWN_QUANTILE))
    median, mean = float(np.median(clv)), float(clv.mean())
    with drawing(height=3.0) as d:
        (ax,) = d.axes
        ax.hist(clv[clv <= cap], bins=40, color=BLUE, alpha=0.85)
        ax.axvline(median, color=ORANGE, label=f"median {median:,.0f} CNY")
        ax.axvline(mean, color=RED, linestyle="--", label=f"mean {mean:,.0f} CNY")
        ax.set_xlabel("predicted value over the next 12 months (CNY)")
        ax.set_ylabel("buyers")
        ax.legend(frameon=False)
        ax.set_title(
            f"{len(clv):,} buyers, {total:,.0f} CNY predicted; the top 10% hold "
            f"{top / total if total else 0:.0%} ({(clv > cap).sum():,} above {cap:,.0f} not shown)"
        )
    return Chart(
        "Predicted 12-month value per buyer",
        "How the value expected from each buyer over the next year is spread: a long right "
        "tail means a few customers are worth keeping at almost any cost.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The lifetime value section."""
    part = Section(TITLE)
    values = read(
        con, CUSTOMER_VALUE.name, SQL, part.notes, "too little purchase history to fit the model"
    )
    if values is not None:
        part.charts.append(draw_distribution(values))
    return part
