"""The lift library: interval coverage on simulated experiments, outcome windows, first
assignments and windows that have not ended yet."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from activation.lift import (
    CAMPAIGN_LIFT,
    assignment_outcomes,
    campaign_lift,
    first_assignments,
)
from activation.lift_statistics import mean_difference, proportion_difference, wilson_interval

EXPERIMENTS = 4000


@pytest.mark.parametrize(
    ("p_treatment", "p_control", "n_treatment", "n_control"),
    [(0.30, 0.15, 500, 50), (0.05, 0.05, 300, 30), (0.5, 0.35, 120, 120)],
)
def test_proportion_interval_covers_the_true_difference(
    p_treatment, p_control, n_treatment, n_control
):
    rng = np.random.default_rng(1)
    x1 = rng.binomial(n_treatment, p_treatment, EXPERIMENTS)
    x2 = rng.binomial(n_control, p_control, EXPERIMENTS)
    result = proportion_difference(x1, n_treatment, x2, n_control)
    truth = p_treatment - p_control
    coverage = np.mean((result.low <= truth) & (truth <= result.high))
    assert 0.93 <= coverage <= 0.975, coverage
    # Under no difference the test rejects about 5% of the time.
    if truth == 0:
        assert 0.02 <= np.mean(result.p_value < 0.05) <= 0.08


def test_welch_interval_covers_the_true_difference_of_skewed_revenue():
    rng = np.random.default_rng(2)
    n_treatment, n_control = 400, 60
    # Most customers spend nothing, buyers spend a log-normal amount: revenue per customer.
    t = rng.binomial(1, 0.3, (EXPERIMENTS, n_treatment)) * rng.lognormal(5, 0.6, (1, n_treatment))
    c = rng.binomial(1, 0.2, (EXPERIMENTS, n_control)) * rng.lognormal(5, 0.6, (1, n_control))
    truth = np.exp(5 + 0.18) * (0.3 - 0.2)
    result = mean_difference(
        t.mean(1), t.var(1, ddof=1), n_treatment, c.mean(1), c.var(1, ddof=1), n_control
    )
    coverage = np.mean((result.low <= truth) & (truth <= result.high))
    assert 0.92 <= coverage <= 0.975, coverage


def test_wilson_and_edge_cases():
    low, high = wilson_interval(0, 20)
    assert low == 0 and 0.1 < high < 0.2  # never the degenerate [0, 0] of Wald
    same = proportion_difference(0, 50, 0, 10)
    assert same.estimate == 0 and same.low < 0 < same.high and same.p_value == 1
    empty = proportion_difference(5, 50, 0, 0)
    assert np.isnan(empty.p_value) and np.isnan(empty.estimate)
    exact = mean_difference(3.0, 0.0, 10, 1.0, 0.0, 10)
    assert (exact.low, exact.high, exact.p_value) == (2.0, 2.0, 0.0)
    assert np.isnan(mean_difference(1.0, 1.0, 10, 1.0, np.nan, 1).low)


def _assignments(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["audience", "customer_id", "assigned_on", "holdout_group", "source"]
    )


def _purchases(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "revenue"])


def test_outcomes_count_the_days_after_the_assignment_only():
    assigned = _assignments(
        [
            ("a", "C1", date(2025, 3, 1), "treatment", "imported"),
            ("a", "C2", date(2025, 3, 1), "control", "imported"),
            ("a", "C3", date(2025, 3, 1), "control", "imported"),
        ]
    )
    purchases = _purchases(
        [
            ("C1", date(2025, 3, 1), 50.0),  # the assignment day: not an outcome
            ("C1", date(2025, 3, 31), 20.0),  # day 30: inside
            ("C1", date(2025, 4, 1), 99.0),  # day 31: outside
            ("C2", date(2024, 3, 31), 10.0),  # 365 days before day 30's end: still active
            ("C3", date(2024, 3, 30), 10.0),  # 366 days before: churned
        ]
    )
    out = assignment_outcomes(assigned, purchases, 30, churned_after_days=365)
    assert out["repurchased"].tolist() == [True, False, False]
    assert out["revenue"].tolist() == [20.0, 0.0, 0.0]
    assert out["churned"].tolist() == [False, False, True]


def test_first_assignment_per_audience_and_customer_only():
    assigned = _assignments(
        [
            ("a", "C1", date(2025, 3, 1), "treatment", "weixi"),
            ("a", "C1", date(2025, 2, 1), "treatment", "weixi"),
            ("b", "C1", date(2025, 3, 1), "control", "weixi"),
            ("a", "C2", date(2025, 3, 1), "control", "weixi"),
            ("a", "C2", date(2025, 3, 1), "control", "imported"),
        ]
    )
    first = first_assignments(assigned)
    assert sorted(zip(first.audience, first.customer_id, first.source, strict=True)) == [
        ("a", "C1", "weixi"),
        ("a", "C2", "imported"),
        ("b", "C1", "weixi"),
    ]
    assert first.loc[first.customer_id.eq("C1") & first.audience.eq("a"), "assigned_on"].iloc[
        0
    ] == pd.Timestamp(2025, 2, 1)
    with pytest.raises(ValueError, match="treatment or control"):
        first_assignments(assigned.assign(holdout_group="held_out"))


def test_windows_that_have_not_ended_are_left_out():
    reference = date(2025, 6, 30)
    assigned = _assignments(
        [
            ("a", "C1", date(2025, 3, 1), "treatment", "imported"),
            ("a", "C2", date(2025, 3, 1), "control", "imported"),
            ("a", "C3", date(2025, 5, 15), "treatment", "imported"),  # 46 days before
            ("a", "C4", date(2025, 6, 20), "control", "imported"),  # 10 days before
        ]
    )
    purchases = _purchases([("C3", date(2025, 5, 20), 30.0), ("C1", date(2025, 3, 10), 5.0)])
    lift = campaign_lift(assigned, purchases, reference, churned_after_days=365)
    assert list(lift.columns) == list(CAMPAIGN_LIFT.column_names)
    assert len(lift) == 3 * 3
    rate = lift[lift.metric.eq("repurchase_rate")].set_index("window_days")
    assert rate.loc[30, "treatment_customers"] == 2 and rate.loc[30, "control_customers"] == 1
    assert rate.loc[30, "pending_assignments"] == 1 and not rate.loc[30, "window_complete"]
    assert rate.loc[60, "treatment_customers"] == 1 and rate.loc[60, "pending_assignments"] == 2
    assert rate.loc[60, "assignments_to"] == pd.Timestamp(2025, 3, 1)
    assert rate.loc[30, "treatment_value"] == 1.0 and rate.loc[30, "absolute_lift"] == 1.0


def test_no_assignments_give_an_empty_table():
    empty = campaign_lift(_assignments([]), _purchases([]), date(2025, 6, 30), 365)
    assert empty.empty and list(empty.columns) == list(CAMPAIGN_LIFT.column_names)


def test_revenue_is_capped_so_one_big_order_does_not_decide():
    reference = date(2025, 6, 30)
    customers = [f"C{i}" for i in range(40)]
    assigned = _assignments(
        [
            ("a", c, date(2025, 3, 1), "control" if i < 10 else "treatment", "imported")
            for i, c in enumerate(customers)
        ]
    )
    # Every customer spends 100 in the window, one control customer 100,000.
    purchases = _purchases(
        [(c, date(2025, 3, 5), 100_000.0 if c == "C0" else 100.0) for c in customers]
    )
    lift = campaign_lift(assigned, purchases, reference, 365, windows=(30,))
    revenue = lift[lift.metric.eq("revenue_per_customer")].iloc[0]
    assert revenue.value_cap < 100_000
    assert revenue.control_value == revenue.treatment_value == 100.0
    assert revenue.absolute_lift == 0
    assert np.isnan(lift[lift.metric.eq("repurchase_rate")].iloc[0].value_cap)
