"""Monthly cohort retention (``marts.cohort_retention``): of the customers acquired in a month,
the share still buying each month after, and the revenue they bring."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from reporting.figures import BLUE, ORANGE, drawing
from reporting.reads import read
from reporting.section import Chart, Section

TITLE = "Cohort retention"
COHORT_RETENTION = "marts.cohort_retention"
MAX_COHORTS = 24
"""The latest cohorts shown; older ones would shrink every cell without adding a decision."""
ANNOTATED_CELLS = 400
"""Up to this many cells, each prints its rate."""

SQL = f"""
    select cohort_month::date as cohort_month,
        months_since_acquisition::integer as months_since_acquisition,
        cohort_customers::double as cohort_customers,
        active_customers::double as active_customers,
        customer_retention_rate::double as customer_retention_rate,
        revenue::double as revenue
    from {COHORT_RETENTION}
    where cohort_month in (
        select distinct cohort_month from {COHORT_RETENTION}
        order by cohort_month desc limit {MAX_COHORTS}
    )
    order by cohort_month, months_since_acquisition
"""


def draw_heatmap(cohorts: pd.DataFrame) -> Chart:
    """Acquisition month (rows) by months since acquisition (columns), coloured and labelled
    by the share of the cohort's customers who bought in that month."""
    grid = cohorts.pivot(
        index="cohort_month", columns="months_since_acquisition", values="customer_retention_rate"
    ).sort_index()
    rows = [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index]
    sizes = cohorts.groupby("cohort_month")["cohort_customers"].max().reindex(grid.index)
    height = 1.2 + 0.24 * len(grid)
    with drawing(height=height) as d:
        (ax,) = d.axes
        ax.grid(False)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        ax.set_yticks(
            range(len(grid)), [f"{m} (n={n:,.0f})" for m, n in zip(rows, sizes, strict=True)]
        )
        ax.set_xlabel("months since acquisition")
        if grid.size <= ANNOTATED_CELLS:
            for (i, j), rate in np.ndenumerate(grid.to_numpy(dtype=float)):
                if not np.isnan(rate):
                    ax.text(
                        j,
                        i,
                        f"{rate:.0%}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if rate > 0.6 else "black",
                    )
        d.figure.colorbar(image, ax=ax, label="customers buying", format="{x:.0%}")
    return Chart(
        "Customer retention by acquisition month",
        "Each row is the customers whose first purchase fell in that month; each cell the "
        "share of them who bought again that many months later.",
        d.svg,
    )


def draw_curves(cohorts: pd.DataFrame) -> Chart:
    """The retention curve over all cohorts shown: customers and revenue retained, by months
    since acquisition, each month weighted by the cohorts that have reached it."""
    first_month = cohorts[cohorts["months_since_acquisition"] == 0]
    weighted = cohorts.assign(
        base_revenue=cohorts["cohort_month"].map(first_month.set_index("cohort_month")["revenue"])
    )
    curve = weighted.groupby("months_since_acquisition").agg(
        active=("active_customers", "sum"),
        customers=("cohort_customers", "sum"),
        revenue=("revenue", "sum"),
        base_revenue=("base_revenue", "sum"),
    )
    customers = curve["active"] / curve["customers"].replace(0, np.nan)
    revenue = curve["revenue"] / curve["base_revenue"].replace(0, np.nan)
    with drawing(height=2.8) as d:
        (ax,) = d.axes
        ax.plot(curve.index, customers, color=BLUE, marker=".", label="customers buying")
        ax.plot(curve.index, revenue, color=ORANGE, marker=".", label="revenue vs month 0")
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("months since acquisition")
        ax.legend(frameon=False)
        last = customers.index[-1] if len(customers) else 0
        ax.set_title(
            f"All cohorts shown: {customers.iloc[1] if len(customers) > 1 else np.nan:.0%} "
            f"buy in month 1, {customers.iloc[-1]:.0%} in month {last}"
        )
    return Chart(
        "Retention curve",
        "Over the cohorts above: the share of customers still buying and the revenue they "
        "bring, relative to their first month.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The cohort retention section."""
    part = Section(TITLE)
    if (cohorts := read(con, COHORT_RETENTION, SQL, part.notes)) is not None:
        part.charts.extend([draw_heatmap(cohorts), draw_curves(cohorts)])
    return part
