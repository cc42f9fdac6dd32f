"""Churn risk (``marts.churn_scores``) and how far its probabilities can be trusted: the
reliability diagram of the scoring model's validation (``marts.model_validation``)."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd

from reporting.figures import GREEN, GREY, ORANGE, RED, drawing
from reporting.reads import read
from reporting.section import Chart, Section
from warehouse.model_outputs import CHURN_SCORES, MODEL_VALIDATION
from warehouse.table_spec import table_exists

TITLE = "Churn risk"
BANDS = {"low": GREEN, "medium": ORANGE, "high": RED}
HISTOGRAM_BINS = 20

SCORES_SQL = f"""
    select
        least(floor(churn_probability * {HISTOGRAM_BINS}), {HISTOGRAM_BINS - 1})
            / {HISTOGRAM_BINS} as bin_start,
        risk_band,
        count(*) as customers,
        sum(churn_probability) as expected_churners
    from {CHURN_SCORES.name}
    group by all
    order by bin_start
"""


def validation_sql(scored_version: str) -> str:
    """The churn validation rows of the model version ``scored_version`` (a SQL expression)
    selects, or of the latest validated version when it gives null."""
    return f"""
        with version as (
            select coalesce(
                {scored_version},
                (select arg_max(model_version, validated_at) from {MODEL_VALIDATION.name}
                 where model = 'churn')
            ) as model_version
        )
        select model_version, validated_at, metric, value, note
        from {MODEL_VALIDATION.name}
        inner join version using (model_version)
        where model = 'churn'
    """


_CALIBRATION = re.compile(r"^calibration_bin_(\d+)_(predicted|observed|rows)$")


def calibration_frame(validation: pd.DataFrame) -> pd.DataFrame:
    """The reliability diagram stored in the validation rows of one model version: one row per
    bin with ``predicted``, ``observed`` and ``rows``; no rows when none was stored."""
    parts = validation["metric"].str.extract(_CALIBRATION)
    found = validation.assign(bin=parts[0], part=parts[1]).dropna(subset=["bin"])
    if found.empty:
        return pd.DataFrame(columns=["bin", "predicted", "observed", "rows"])
    wide = found.pivot(index="bin", columns="part", values="value").reset_index()
    return wide.assign(bin=wide["bin"].astype(int)).sort_values("bin")


def draw_bands(scores: pd.DataFrame) -> Chart:
    """Active customers by churn probability (a histogram in twentieths, coloured by risk
    band); the title gives each band's customers and the expected number of churners."""
    bands = scores.groupby("risk_band")[["customers", "expected_churners"]].sum()
    summary = ", ".join(
        f"{band} {bands.loc[band, 'customers']:,.0f}" for band in BANDS if band in bands.index
    )
    with drawing(height=3.0) as d:
        (ax,) = d.axes
        bottom = pd.Series(0.0, index=sorted(scores["bin_start"].unique()))
        for band, colour in BANDS.items():
            rows = scores[scores["risk_band"] == band].groupby("bin_start")["customers"].sum()
            heights = rows.reindex(bottom.index, fill_value=0)
            ax.bar(
                bottom.index,
                heights,
                width=1 / HISTOGRAM_BINS,
                bottom=bottom,
                align="edge",
                color=colour,
                label=band,
                edgecolor="white",
                linewidth=0.5,
            )
            bottom += heights
        ax.set_xlim(0, 1)
        ax.set_xlabel("churn probability")
        ax.set_ylabel("active customers")
        ax.legend(frameon=False, title="risk band")
        ax.set_title(f"{summary}; about {bands['expected_churners'].sum():,.0f} expected to churn")
    return Chart(
        "Churn risk bands",
        "Every active customer by the probability of buying nothing in the churn horizon: the "
        "high band is who the win-back audiences call first.",
        d.svg,
    )


def draw_calibration(bins: pd.DataFrame, version: str, brier: float | None) -> Chart:
    """Mean forecast against the share that churned, per probability bin, against the
    diagonal of perfect calibration; marker area by the bin's rows."""
    with drawing(height=3.4) as d:
        (ax,) = d.axes
        ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1, label="perfect")
        sizes = 20 + 200 * bins["rows"] / max(bins["rows"].max(), 1)
        ax.plot(bins["predicted"], bins["observed"], color=RED, linewidth=1)
        ax.scatter(bins["predicted"], bins["observed"], s=sizes, color=RED, label="model", zorder=3)
        for row in bins.itertuples():
            ax.annotate(
                f"{row.observed:.0%} (n={row.rows:,.0f})",
                (row.predicted, row.observed),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("predicted churn probability (bin mean)")
        ax.set_ylabel("share that churned")
        ax.legend(frameon=False, loc="upper left")
        brier_text = (
            f", Brier score {brier:.3f}" if brier is not None and np.isfinite(brier) else ""
        )
        ax.set_title(f"Model {version}{brier_text}")
    return Chart(
        "Calibration of the churn model",
        "On the last validation snapshot: of the customers given about p, did about p churn? "
        "Points on the diagonal mean the probabilities can be read as shares.",
        d.svg,
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The churn risk section."""
    part = Section(TITLE)
    scores = read(con, CHURN_SCORES.name, SCORES_SQL, part.notes, "no churn model promoted yet")
    if scores is not None:
        part.charts.append(draw_bands(scores))
    # The calibration of the model that scored tonight; without scores, the latest validated.
    scored_version = (
        f"(select any_value(model_version) from {CHURN_SCORES.name})"
        if table_exists(con, CHURN_SCORES.name)
        else "null"
    )
    validation = read(
        con,
        MODEL_VALIDATION.name,
        validation_sql(scored_version),
        part.notes,
        "no churn model validated yet",
    )
    if validation is not None:
        bins = calibration_frame(validation)
        if bins.empty:
            part.notes.append(
                "The last churn validation stored no calibration curve (a model validated "
                "before the curve was recorded); it appears after the next training."
            )
        else:
            brier = validation.loc[validation["metric"] == "brier", "value"]
            part.charts.append(
                draw_calibration(
                    bins,
                    str(validation["model_version"].iloc[0]),
                    float(brier.iloc[0]) if len(brier) else None,
                )
            )
    return part
