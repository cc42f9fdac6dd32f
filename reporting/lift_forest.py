"""Campaign lift (``marts.campaign_lift``) as a forest plot: each audience's primary metric and
window, treatment minus control with its 95% interval and verdict. Rows that cannot be judged
(no control group, window not finished, too few customers) are listed, never given a verdict."""

from __future__ import annotations

import duckdb
import pandas as pd

from activation.lift import (
    CAMPAIGN_LIFT,
    HARMS,
    LOWER_IS_BETTER,
    PRIMARY,
    SECONDARY,
    SIGNIFICANCE,
    WORKS,
)
from reporting.figures import GREEN, GREY, RED, drawing
from reporting.reads import read
from reporting.section import Chart, Section, Table

TITLE = "Campaign lift"
VERDICT_COLOURS = {WORKS: GREEN, HARMS: RED}
UNITS = {
    "repurchase_rate": "percentage points",
    "churn_rate": "percentage points",
    "revenue_per_customer": "CNY per customer",
}

SQL = f"""
    select audience, window_days, metric, treatment_customers, control_customers,
        treatment_value, control_value, absolute_lift, ci_low, ci_high, p_value,
        adjusted_p_value, is_primary, status, verdict
    from {CAMPAIGN_LIFT.name}
    order by audience, metric, window_days
"""


def _scale(metric: str) -> float:
    # Rates are shares in the mart; marketers read them in percentage points.
    return 100.0 if UNITS.get(metric) == "percentage points" else 1.0


def draw_forest(primary: pd.DataFrame) -> Chart:
    """One panel per primary metric; in each, one line per audience: the lift (dot) and its
    95% interval (bar), green when it works, red when it harms, grey without evidence."""
    metrics = sorted(primary["metric"].unique())
    heights = [len(primary[primary["metric"] == m]) for m in metrics]
    with drawing(height=1.0 + 0.32 * sum(heights) + 0.6 * len(metrics), rows=len(metrics)) as d:
        for ax, metric in zip(d.axes, metrics, strict=True):
            rows = primary[primary["metric"] == metric].sort_values("absolute_lift")
            scale = _scale(metric)
            for i, row in enumerate(rows.itertuples()):
                colour = VERDICT_COLOURS.get(row.verdict, GREY)
                ax.plot(
                    [row.ci_low * scale, row.ci_high * scale], [i, i], color=colour, linewidth=2
                )
                ax.plot(row.absolute_lift * scale, i, "o", color=colour)
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_yticks(
                range(len(rows)),
                [
                    f"{r.audience} ({r.window_days} d, n={r.treatment_customers:,}/"
                    f"{r.control_customers:,}, p={r.p_value:.3f}, {r.verdict})"
                    for r in rows.itertuples()
                ],
                fontsize=7,
            )
            better = "lower" if metric in LOWER_IS_BETTER else "higher"
            ax.set_xlabel(
                f"{metric}: treatment minus control ({UNITS.get(metric, '')}; {better} is better)"
            )
    return Chart(
        "Lift of each audience on its primary metric",
        "Contacted customers against their random control group, on the one metric and window "
        "declared for the audience: a bar that does not cross zero is evidence; grey means none.",
        d.svg,
    )


def _p(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The campaign lift section: the forest plot, the unjudged audiences and the secondary
    effects that survive the Holm adjustment."""
    part = Section(TITLE)
    lift = read(con, CAMPAIGN_LIFT.name, SQL, part.notes, "no audience has assignments yet")
    if lift is None:
        return part
    primary = lift[lift["is_primary"].fillna(False).astype(bool)]
    tested = primary[primary["status"] == PRIMARY]
    if tested.empty:
        part.notes.append("No audience has a tested primary metric yet.")
    else:
        part.charts.append(draw_forest(tested))
    unjudged = primary[primary["status"] != PRIMARY]
    if not unjudged.empty:
        part.tables.append(
            Table(
                "Audiences without a verdict (left out of the chart): why",
                ("audience", "primary metric", "window (days)", "contacted", "held out", "status"),
                [
                    (
                        r.audience,
                        r.metric,
                        r.window_days,
                        r.treatment_customers,
                        r.control_customers,
                        r.status,
                    )
                    for r in unjudged.itertuples()
                ],
            )
        )
    secondary = lift[(lift["status"] == SECONDARY) & (lift["adjusted_p_value"] < SIGNIFICANCE)]
    if not secondary.empty:
        part.tables.append(
            Table(
                "Secondary effects that hold after the Holm adjustment (not verdicts: "
                "hypotheses for the next test)",
                ("audience", "metric", "window (days)", "lift", "p", "Holm-adjusted p"),
                [
                    (
                        r.audience,
                        r.metric,
                        r.window_days,
                        f"{r.absolute_lift * _scale(r.metric):+,.2f} {UNITS.get(r.metric, '')}",
                        _p(r.p_value),
                        _p(r.adjusted_p_value),
                    )
                    for r in secondary.itertuples()
                ],
            )
        )
    return part
