"""The nightly report's sections on small hand-made marts in an in-memory DuckDB: each chart is
drawn from its mart (change a row, the chart changes), a missing mart is a note, never a crash,
and the page loads nothing from elsewhere. The new marts are written to the agreed schemas of
``marts.cohort_retention``, ``marts.segment_migrations`` and ``marts.kpi_monthly``."""

from __future__ import annotations

import re
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from activation.lift import CAMPAIGN_LIFT
from data_quality.results import CHECK_RESULTS, QUALITY_RUNS
from ml.classification_metrics import calibration_bins
from reporting import (
    churn_risk,
    clv_distribution,
    cohort_heatmap,
    kpi_trends,
    lift_forest,
    migrations,
    product_pairs,
    quality_summary,
    segment_grid,
)
from reporting.page import SECTIONS, build_sections, render_report
from warehouse.model_outputs import (
    CHURN_SCORES,
    CUSTOMER_VALUE,
    MODEL_VALIDATION,
    calibration_metric,
)
from warehouse.table_spec import TableSpec


def _load(con: duckdb.DuckDBPyConnection, table: str | TableSpec, frame: pd.DataFrame) -> None:
    con.register("_frame", frame)
    if isinstance(table, TableSpec):
        # The table as Python writes it; columns a test does not care about stay null.
        table.create(con, replace=True)
        con.execute(f"insert into {table.name} by name select * from _frame")
    else:
        con.execute(f"create schema if not exists {table.split('.')[0]}")
        con.execute(f"create or replace table {table} as select * from _frame")
    con.unregister("_frame")


def cohort_retention() -> pd.DataFrame:
    rows = []
    for i, month in enumerate(pd.date_range("2025-01-01", periods=4, freq="MS")):
        customers = 100 + 10 * i
        for since in range(4 - i):
            active = customers if since == 0 else customers // (since + 1)
            rows.append(
                {
                    "cohort_month": month.date(),
                    "months_since_acquisition": since,
                    "cohort_customers": customers,
                    "active_customers": active,
                    "customer_retention_rate": active / customers,
                    "revenue": 50.0 * active,
                    "revenue_retention_rate": active / customers,
                }
            )
    return pd.DataFrame(rows)


def segment_migrations() -> pd.DataFrame:
    def step(start: str, end: str, stay: int) -> list[dict]:
        return [
            {
                "from_snapshot_date": date.fromisoformat(start),
                "to_snapshot_date": date.fromisoformat(end),
                "dimension": dimension,
                "from_value": a,
                "to_value": b,
                "customers": n,
            }
            for dimension, a, b, n in (
                ("lifecycle_stage", "new", "new", stay),
                ("lifecycle_stage", "new", "repeat", 7),
                ("lifecycle_stage", "repeat", "at_risk", 3),
                ("lifecycle_stage", None, "new", 4),
                ("rfm_segment", "champions", "loyal", 5),
                ("rfm_segment", "loyal", "loyal", 20),
            )
        ]

    return pd.DataFrame(step("2025-04-30", "2025-05-31", 11) + step("2025-05-31", "2025-06-30", 13))


def kpi_monthly() -> pd.DataFrame:
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    return pd.DataFrame(
        {
            "month": months.date,
            "nps": [10, 12, 15, 11, 20, 23.0],
            "csat": [4.1, 4.2, 4.0, 4.3, 4.4, 4.37],
            "complaints": [5, 6, 7, 5, 4, 3],
            "complaint_first_reply_sla_rate": [0.8, 0.82, 0.9, 0.85, 0.88, 0.91],
            "complaint_resolution_sla_rate": [0.6, 0.62, 0.7, 0.65, 0.68, 0.71],
            "customers_active_at_start": [100, 110, 120, 130, 140, 150],
            "customers_retained": [80, 90, 100, 110, 120, 127],
            "customers_churned": [20, 20, 20, 20, 20, 23],
            "churn_rate": [0.2, 0.18, 0.17, 0.15, 0.14, 0.153],
            "retention_rate": [0.8, 0.82, 0.83, 0.85, 0.86, 0.847],
        }
    )


def kpi_daily() -> pd.DataFrame:
    days = pd.date_range("2025-01-06", periods=28, freq="D")
    return pd.DataFrame(
        {
            "kpi_date": days.date,
            "orders": np.arange(28) + 10,
            "buyers": np.arange(28) + 8,
            "new_customers": 2,
            "revenue": 1000.0 + 10 * np.arange(28),
            "active_customers_30d": 200 + np.arange(28),
            "repurchase_rate": 0.5,
            "top20_revenue_share_12m": None,
        }
    )


def customer_rfm() -> pd.DataFrame:
    rows = [
        (f"c{i}", r, f, "champions" if r + f >= 9 else "lost" if r + f <= 3 else "loyal", 100.0 * i)
        for i, (r, f) in enumerate([(5, 5), (5, 4), (1, 1), (1, 2), (3, 3), (4, 3)], start=1)
    ]
    return pd.DataFrame(
        rows, columns=["customer_id", "r_score", "f_score", "rfm_segment", "monetary"]
    )


def customer_value() -> pd.DataFrame:
    quadrants = ["strategic", "growth", "basic", "marginal"] * 5
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(20)],
            "value_quadrant": quadrants,
            "current_value": [100.0 * (i % 4 + 1) for i in range(20)],
            "clv_12m": [50.0 * (i + 1) for i in range(20)],
        }
    )


def churn_scores() -> pd.DataFrame:
    probability = np.linspace(0.05, 0.95, 30)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(30)],
            "as_of": date(2025, 6, 30),
            "churn_probability": probability,
            "risk_band": np.select(
                [probability >= 0.7, probability >= 0.4], ["high", "medium"], "low"
            ),
            "reason_1": "recency",
            "model_version": "v2",
        }
    )


def model_validation(version: str = "v2") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    probability = rng.uniform(size=500)
    outcome = rng.uniform(size=500) < probability
    bins = calibration_bins(outcome, probability)
    rows = [("brier", 0.171)] + [
        (calibration_metric(round(b.high * 10), part), getattr(b, part))
        for b in bins
        for part in ("predicted", "observed", "rows")
    ]
    return pd.DataFrame(
        {
            "model": "churn",
            "model_version": version,
            "validated_at": datetime(2025, 6, 30, 3),
            "metric": [m for m, _ in rows],
            "value": [float(v) for _, v in rows],
        }
    )


def product_associations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "association_level": ["product", "product", "product", "subcategory"],
            "antecedent": ["p1", "p2", "p3", "phones"],
            "antecedent_name": ["Tea", "Cup", "Pot", "phones"],
            "consequent": ["p2", "p1", "p4", "cases"],
            "consequent_name": ["Cup", "Tea", "Kettle", "cases"],
            "pair_baskets": [40, 40, 12, 90],
            "support": [0.01, 0.01, 0.003, 0.02],
            "confidence": [0.5, 0.4, 0.3, 0.6],
            "lift": [8.5, 8.5, 3.25, 12.0],
        }
    )


def campaign_lift() -> pd.DataFrame:
    columns = (
        "audience window_days metric treatment_customers control_customers absolute_lift ci_low "
        "ci_high p_value adjusted_p_value is_primary status verdict"
    ).split()
    rows = [
        ["win_back", 30, "repurchase_rate", 500, 60, 0.21, 0.1, 0.32, 0.001, 0.001]
        + [True, "primary", "works"],
        ["win_back", 60, "revenue_per_customer", 500, 60, 150.0, 40.0, 260.0, 0.004, 0.02]
        + [False, "secondary", None],
        ["nudge", 30, "repurchase_rate", 300, 30, 0.02, -0.08, 0.12, 0.7, 0.7]
        + [True, "primary", "no_evidence"],
        ["birthday_greeting", 30, "repurchase_rate", 0, 0, None, None, None, None, None]
        + [True, "window_incomplete", None],
    ]
    return pd.DataFrame(rows, columns=columns).assign(
        reference_date=date(2025, 6, 30),
        assignments_from=date(2025, 1, 1),
        assignments_to=date(2025, 3, 1),
        confidence_level=0.95,
    )


def quality_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    day = datetime(2025, 6, 30, 3)
    columns = (
        "run_id layer dataset partition_start partition_end rows_in rows_loaded "
        "rows_quarantined rows_without_parent checks_passed checks_failed blocking_failures "
        "checked_at"
    ).split()
    runs = pd.DataFrame(
        [
            ["r1", "raw", "orders", date(2025, 6, 29), date(2025, 6, 29), 90, 88, 2, 0]
            + [30, 1, 0, datetime(2025, 6, 29, 3)],
            ["r2", "raw", "orders", date(2025, 6, 30), date(2025, 6, 30), 100, 97, 3, 0]
            + [31, 1, 0, day],
            ["r2", "marts", "marts.kpi_daily", None, None, 180, None, None, None, 12, 0, 0, day],
        ],
        columns=columns,
    )
    results = pd.DataFrame(
        [
            ["r2", "orders", "plausibility", "warn", "amount at most max_amount", False, 100, 3],
            ["r1", "orders", "volume", "warn", "an older failure", False, 90, 1],
        ],
        columns=(
            "run_id dataset check_name severity rule passed rows_checked unexpected_rows".split()
        ),
    ).assign(layer="raw", table_name="raw.orders", detail="rows above the limit")
    return runs, results


MARTS: dict[str, tuple[object, ...]] = {
    # section module: (table, frame) pairs it reads
    "kpi_trends": (("marts.kpi_daily", kpi_daily), ("marts.kpi_monthly", kpi_monthly)),
    "cohort_heatmap": (("marts.cohort_retention", cohort_retention),),
    "segment_grid": (("marts.customer_rfm", customer_rfm), (CUSTOMER_VALUE, customer_value)),
    "migrations": (("marts.segment_migrations", segment_migrations),),
    "churn_risk": ((CHURN_SCORES, churn_scores), (MODEL_VALIDATION, model_validation)),
    "clv_distribution": ((CUSTOMER_VALUE, customer_value),),
    "product_pairs": (("marts.product_associations", product_associations),),
    "lift_forest": ((CAMPAIGN_LIFT, campaign_lift),),
    "quality_summary": (
        (QUALITY_RUNS, lambda: quality_runs()[0]),
        (CHECK_RESULTS, lambda: quality_runs()[1]),
    ),
}
MODULES = {
    m.__name__.rsplit(".", 1)[1]: m
    for m in (
        kpi_trends,
        cohort_heatmap,
        segment_grid,
        migrations,
        churn_risk,
        clv_distribution,
        product_pairs,
        lift_forest,
        quality_summary,
    )
}
# One row changed per mart: the chart drawn from it must change with it.
CHANGES = {
    "kpi_trends": "update marts.kpi_monthly set nps = 31 where month = '2025-06-01'",
    "cohort_heatmap": "update marts.cohort_retention set active_customers = 77, "
    "customer_retention_rate = 0.77 where months_since_acquisition = 1",
    "segment_grid": "update marts.customer_rfm set r_score = 2 where customer_id = 'c1'",
    "migrations": "update marts.segment_migrations set customers = 99 "
    "where to_snapshot_date = '2025-06-30' and from_value = 'new' and to_value = 'repeat'",
    "churn_risk": "update marts.churn_scores set risk_band = 'high', churn_probability = 0.99 "
    "where customer_id = 'c0'",
    "clv_distribution": "update marts.customer_value set clv_12m = 5000 where customer_id = 'c3'",
    "product_pairs": "update marts.product_associations set lift = 20 where antecedent = 'p3'",
    "lift_forest": "update marts.campaign_lift set ci_high = 0.5 where audience = 'nudge'",
    "quality_summary": "update marts.data_quality_runs set checks_passed = 5 "
    "where dataset = 'marts.kpi_daily'",
}


def warehouse_with(*modules: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for module in modules:
        for table, frame in MARTS[module]:
            _load(con, table, frame())
    return con


def _svgs(module: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    part = MODULES[module].section(con)
    assert part.charts, part.notes
    return [chart.svg for chart in part.charts]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_chart_is_drawn_from_its_mart(module: str) -> None:
    con = warehouse_with(module)
    before = _svgs(module, con)
    assert before == _svgs(module, con), "the same data draws the same chart"
    con.execute(CHANGES[module])
    after = _svgs(module, con)
    assert before != after


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_missing_mart_is_a_note_not_a_crash(module: str) -> None:
    part = MODULES[module].section(duckdb.connect())
    assert not part.charts
    assert any("is not built yet" in note for note in part.notes)


def test_every_section_is_in_the_page_in_reading_order() -> None:
    assert [title for title, _ in SECTIONS] == [
        "KPI trends",
        "Cohort retention",
        "Segments and value",
        "Lifecycle and segment migration",
        "Churn risk",
        "Customer lifetime value",
        "Top product associations",
        "Campaign lift",
        "Data quality",
    ]


def _svg_text(svg: str) -> str:
    # Text stays text in the SVG (one <text> per label, possibly split into <tspan>s).
    return " ".join(re.sub(r"<[^>]+>", " ", svg).split())


def test_cohort_heatmap_prints_the_retention_rates() -> None:
    chart = cohort_heatmap.draw_heatmap(cohort_retention())
    text = _svg_text(chart.svg)
    assert "50%" in text and "33%" in text  # a half, a third of the cohort in months 1 and 2
    assert "2025-01 (n=100)" in text and "2025-04 (n=130)" in text


def test_migrations_show_the_latest_step_only() -> None:
    con = warehouse_with("migrations")
    part = migrations.section(con)
    assert [chart.title for chart in part.charts] == [
        "Migration of lifecycle_stage",
        "Migration of rfm_segment",
    ]
    lifecycle = _svg_text(part.charts[0].svg)
    # 2025-05-31 -> 2025-06-30: 13 stayed new, 7 + 3 + 4 moved (the earlier step had 11 stay).
    assert "14 of 27 customers (52%) changed" in lifecycle
    assert "none" in lifecycle, "customers without a value before (new customers) are shown"


def test_migration_values_keep_their_natural_order() -> None:
    values = {"churned", "new", "none", "at_risk", "vip"}
    assert migrations.ordered(values, "lifecycle_stage") == [
        "none",
        "new",
        "at_risk",
        "churned",
        "vip",
    ]
    assert migrations.ordered({"b", "a"}, "rfm_segment") == ["a", "b"]


def test_kpi_monthly_titles_end_with_the_latest_month() -> None:
    text = _svg_text(kpi_trends.draw_monthly(kpi_monthly()).svg)
    assert "NPS (last 23)" in text
    assert "CSAT (last 4.37)" in text
    assert "(last 91% / 71%)" in text
    assert "(last 85% / 15%)" in text


def test_kpi_weeks_are_whole_weeks() -> None:
    con = warehouse_with("kpi_trends")
    con.execute("delete from marts.kpi_daily where kpi_date > '2025-01-28'")  # 23 days: 3 weeks
    weeks = con.execute(kpi_trends.WEEKLY_SQL).df()
    assert len(weeks) == 3
    assert weeks["orders"].iloc[0] == sum(range(10, 17))


def test_calibration_is_read_from_the_scoring_models_validation() -> None:
    con = warehouse_with("churn_risk")
    # An older version validated later than the one scoring: not the one drawn.
    older = model_validation("v1").query("metric == 'brier'")
    con.register("older", older.assign(value=0.3, validated_at=datetime(2025, 7, 1)))
    con.execute(f"insert into {MODEL_VALIDATION.name} by name select * from older")
    (bands, calibration) = churn_risk.section(con).charts
    text = _svg_text(calibration.svg)
    assert "Model v2, Brier score 0.171" in text
    bins = churn_risk.calibration_frame(con.execute(churn_risk.validation_sql("'v2'")).df())
    assert len(bins) == 10 and bins["rows"].sum() == 500
    assert "low 12, medium 9, high 9" in _svg_text(bands.svg)


def test_a_validation_without_a_calibration_curve_is_a_note() -> None:
    con = warehouse_with("churn_risk")
    con.execute(f"delete from {MODEL_VALIDATION.name} where metric like 'calibration%'")
    part = churn_risk.section(con)
    assert len(part.charts) == 1
    assert any("no calibration curve" in note for note in part.notes)


def test_lift_gives_verdicts_only_to_tested_primary_rows() -> None:
    part = lift_forest.section(warehouse_with("lift_forest"))
    (forest,) = part.charts
    text = _svg_text(forest.svg)
    assert "win_back (30 d, n=500/60, p=0.001, works)" in text
    assert "nudge (30 d, n=300/30, p=0.700, no_evidence)" in text
    assert "birthday_greeting" not in text
    unjudged, secondary = part.tables
    assert [row[0] for row in unjudged.rows] == ["birthday_greeting"]
    assert unjudged.rows[0][-1] == "window_incomplete"
    assert secondary.rows == [
        ("win_back", "revenue_per_customer", 60, "+150.00 CNY per customer", "0.004", "0.020")
    ]


def test_product_pairs_are_shown_once_at_product_level() -> None:
    con = warehouse_with("product_pairs")
    pairs = con.execute(product_pairs.SQL).df()
    assert list(zip(pairs["antecedent_name"], pairs["consequent_name"], strict=True)) == [
        ("Tea", "Cup"),
        ("Pot", "Kettle"),
    ]


def test_quality_shows_each_datasets_latest_check() -> None:
    part = quality_summary.section(warehouse_with("quality_summary"))
    (chart,) = part.charts
    assert "43 rules passed, 1 warnings, 0 blocking failures" in _svg_text(chart.svg)
    loads, failed = part.tables
    assert loads.rows == [("orders", "2025-06-30 .. 2025-06-30", "100", "97", "3", "0")]
    assert [row[3] for row in failed.rows] == ["amount at most max_amount"]


def test_the_page_is_self_contained_and_escapes_names() -> None:
    con = warehouse_with(*MODULES)
    con.execute(
        "update marts.product_associations set antecedent_name = '<script>alert(1)</script>' "
        "where antecedent = 'p1'"
    )
    html = render_report(build_sections(con), date(2025, 6, 30), datetime(2025, 7, 1, 2, 40))
    assert "Weixi nightly report 2025-06-30" in html
    assert "<script" not in html.lower()
    assert "@import" not in html
    # Every reference is to the page itself (the contents, the SVGs' clip paths) or inline
    # data (the heat maps' pixels).
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)|url\(([^)]*)\)""", html)
    assert links and all((a or b).startswith(("#", "data:")) for a, b in links)
    assert html.count("<svg") == sum(len(s.charts) for s in build_sections(con))


def test_an_empty_warehouse_gives_a_page_of_notes() -> None:
    sections = build_sections(duckdb.connect())
    assert all(not s.charts for s in sections)
    html = render_report(sections, date(2025, 6, 30), datetime(2025, 7, 1))
    assert html.count("is not built yet") >= len(SECTIONS)


def test_a_mart_of_another_shape_is_a_note() -> None:
    con = duckdb.connect()
    _load(con, "marts.cohort_retention", pd.DataFrame({"cohort": [1]}))
    (part,) = [s for s in build_sections(con) if s.title == cohort_heatmap.TITLE]
    assert part.notes and part.notes[0].startswith("This part could not be drawn")


def test_decimal_and_integer_columns_of_the_new_marts_draw() -> None:
    # The agreed schemas name the columns, not their types: a rate may come as a decimal.
    con = warehouse_with("kpi_trends", "cohort_heatmap", "migrations")
    con.execute(
        "create or replace table marts.kpi_monthly as select * replace ("
        "nps::decimal(6, 2) as nps, churn_rate::decimal(6, 4) as churn_rate) "
        "from marts.kpi_monthly"
    )
    con.execute(
        "create or replace table marts.cohort_retention as select * replace ("
        "customer_retention_rate::decimal(6, 4) as customer_retention_rate, "
        "revenue::decimal(18, 2) as revenue) from marts.cohort_retention"
    )
    for module in (kpi_trends, cohort_heatmap, migrations):
        part = module.section(con)
        assert part.charts and not part.notes, part.notes
    assert "NPS (last 23)" in _svg_text(kpi_trends.section(con).charts[1].svg)
