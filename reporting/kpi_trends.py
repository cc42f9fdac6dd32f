"""KPI trends: weekly sales and customer activity (``marts.kpi_daily``) and the monthly service
and retention rates (``marts.kpi_monthly``)."""

from __future__ import annotations

import duckdb
import pandas as pd

from reporting.figures import BLUE, GREEN, ORANGE, RED, drawing
from reporting.reads import read
from reporting.section import Chart, Section

TITLE = "KPI trends"
KPI_DAILY = "marts.kpi_daily"
KPI_MONTHLY = "marts.kpi_monthly"

WEEKLY_SQL = f"""
    select
        date_trunc('week', kpi_date)::date as week,
        sum(revenue)::double as revenue,
        sum(orders)::double as orders,
        sum(new_customers)::double as new_customers,
        arg_max(active_customers_30d, kpi_date)::double as active_customers_30d,
        (sum(repurchase_rate * buyers) / nullif(sum(buyers), 0))::double as repurchase_rate
    from {KPI_DAILY}
    group by all
    -- Whole weeks only: the first and the running week would look like a drop in sales.
    having count(*) = 7
    order by week
"""
# Cast to double: whatever numeric type a mart declares (decimals too), matplotlib gets floats.
MONTHLY_SQL = f"""
    select month::date as month, nps::double as nps, csat::double as csat,
        complaint_first_reply_sla_rate::double as complaint_first_reply_sla_rate,
        complaint_resolution_sla_rate::double as complaint_resolution_sla_rate,
        churn_rate::double as churn_rate, retention_rate::double as retention_rate
    from {KPI_MONTHLY}
    order by month
"""


def _last(series: pd.Series, form: str) -> str:
    known = series.dropna()
    return format(known.iloc[-1], form) if len(known) else "n/a"


def draw_weekly(weekly: pd.DataFrame) -> Chart:
    """Four small charts from the weekly frame of ``WEEKLY_SQL``: revenue, orders and new
    customers, customers active in the last 30 days, and the share of buyers who bought
    before. Each title ends with the latest week's figure."""
    week = pd.to_datetime(weekly["week"])
    with drawing(height=5.0, rows=2, columns=2) as d:
        revenue, orders, active, repurchase = d.axes
        revenue.plot(week, weekly["revenue"], color=BLUE)
        revenue.set_title(f"Net revenue per week (CNY; last {_last(weekly['revenue'], ',.0f')})")
        orders.plot(week, weekly["orders"], color=BLUE, label="orders")
        orders.plot(week, weekly["new_customers"], color=ORANGE, label="new customers")
        orders.legend(loc="upper left", frameon=False)
        orders.set_title(
            f"Orders and new customers per week (last {_last(weekly['orders'], ',.0f')} / "
            f"{_last(weekly['new_customers'], ',.0f')})"
        )
        active.plot(week, weekly["active_customers_30d"], color=GREEN)
        active.set_title(
            "Customers who bought in the last 30 days "
            f"(last {_last(weekly['active_customers_30d'], ',.0f')})"
        )
        repurchase.plot(week, weekly["repurchase_rate"], color=RED)
        repurchase.set_ylim(0, 1)
        repurchase.set_title(
            f"Share of buyers who bought before (last {_last(weekly['repurchase_rate'], '.0%')})"
        )
        for ax in d.axes:
            ax.tick_params(axis="x", labelrotation=30)
    return Chart(
        "Sales and activity, week by week",
        "Weekly totals from marts.kpi_daily: is revenue growing, and is it carried by new or "
        "returning buyers?",
        d.svg,
    )


def draw_monthly(monthly: pd.DataFrame) -> Chart:
    """Four small charts from ``marts.kpi_monthly``: NPS, CSAT, the complaint SLA rates and the
    churn and retention rates, month by month; titles end with the latest month's figure."""
    month = pd.to_datetime(monthly["month"])
    with drawing(height=5.0, rows=2, columns=2) as d:
        nps, csat, sla, churn = d.axes
        nps.plot(month, monthly["nps"], color=BLUE, marker=".")
        nps.axhline(0, color="black", linewidth=0.6)
        nps.set_title(f"NPS (last {_last(monthly['nps'], '.0f')})")
        csat.plot(month, monthly["csat"], color=GREEN, marker=".")
        csat.set_title(f"CSAT (last {_last(monthly['csat'], '.2f')})")
        sla.plot(
            month, monthly["complaint_first_reply_sla_rate"], color=ORANGE, label="first reply"
        )
        sla.plot(month, monthly["complaint_resolution_sla_rate"], color=RED, label="resolution")
        sla.set_ylim(0, 1.05)
        sla.legend(loc="lower left", frameon=False)
        sla.set_title(
            "Complaints within SLA "
            f"(last {_last(monthly['complaint_first_reply_sla_rate'], '.0%')} / "
            f"{_last(monthly['complaint_resolution_sla_rate'], '.0%')})"
        )
        churn.plot(month, monthly["retention_rate"], color=GREEN, label="retained")
        churn.plot(month, monthly["churn_rate"], color=RED, label="churned")
        churn.set_ylim(0, 1.05)
        churn.legend(loc="center left", frameon=False)
        churn.set_title(
            f"Customers retained / churned (last {_last(monthly['retention_rate'], '.0%')} / "
            f"{_last(monthly['churn_rate'], '.0%')})"
        )
        for ax in d.axes:
            ax.tick_params(axis="x", labelrotation=30)
    return Chart(
        "Service and retention, month by month",
        "From marts.kpi_monthly: how customers rate the shop, whether complaints are answered "
        "in time, and how many of the month's starting customers stayed.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The KPI trends section."""
    part = Section(TITLE)
    if (weekly := read(con, KPI_DAILY, WEEKLY_SQL, part.notes)) is not None:
        part.charts.append(draw_weekly(weekly))
    if (monthly := read(con, KPI_MONTHLY, MONTHLY_SQL, part.notes)) is not None:
        part.charts.append(draw_monthly(monthly))
    return part
