"""Personas: style features from purchase totals, cluster naming, recovery of planted groups
(the asset on two years of generated data: tests/assets/test_personas_assets.py)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from ml import personas
from ml.history import NotEnoughHistory

AS_OF = date(2025, 6, 30)


def _totals(**columns) -> pd.DataFrame:
    base = {
        "customer_id": ["A"],
        "first_order_date": [pd.Timestamp("2025-01-01")],
        "orders": [4],
        "net_revenue": [400.0],
        "lines": [10],
        "discounted_lines": [5],
        "gross_amount": [500.0],
        "discount_amount": [50.0],
        "line_amount": [450.0],
        "premium_amount": [90.0],
        "budget_amount": [180.0],
        "categories": [3],
    }
    return pd.DataFrame({**base, **columns})


def test_features_are_shares_order_value_and_rate():
    features = personas.persona_features(_totals(), AS_OF).loc["A"]
    assert features["discounted_line_share"] == 0.5
    assert features["discount_share_of_spend"] == 0.1
    assert features["premium_share"] == 0.2 and features["budget_share"] == 0.4
    assert features["avg_order_value"] == 100
    assert features["orders_per_year"] == pytest.approx(4 / 180 * 365)
    assert features["category_breadth"] == 3


def test_a_new_customer_is_not_a_heavy_buyer_and_missing_lines_take_the_median():
    totals = pd.concat(
        [
            _totals(),
            _totals(customer_id=["B"], first_order_date=[pd.Timestamp("2025-06-29")], orders=[1]),
            _totals(customer_id=["C"], lines=[0], discounted_lines=[0], line_amount=[0.0]),
        ],
        ignore_index=True,
    )
    features = personas.persona_features(totals, AS_OF)
    # One order yesterday: one order per MIN_AGE_DAYS, not one a day.
    assert features.loc["B", "orders_per_year"] == pytest.approx(365 / personas.MIN_AGE_DAYS)
    assert features.loc["C", "discounted_line_share"] == 0.5
    assert features.notna().all().all()
    with pytest.raises(KeyError, match="premium_amount"):
        personas.persona_features(totals.drop(columns="premium_amount"), AS_OF)


def test_clusters_are_named_by_their_profile_whatever_their_number():
    # Centres over FEATURES: discount lines, discount spend, premium, budget, AOV, frequency.
    centres = np.array(
        [
            [-0.1, 0.0, 0.1, 0.0, 0.1, 0.1],
            [-0.8, -0.7, 1.6, -0.9, 1.0, -0.2],
            [1.4, 1.2, -0.7, 1.3, -0.6, 0.3],
            [0.0, 0.1, 0.0, -0.1, 0.2, 2.0],
        ]
    )
    assert personas.name_clusters(centres) == (
        "mainstream",
        "quality_seeking",
        "price_sensitive",
        "frequent_buyers",
    )
    assert personas.name_clusters(centres[[2, 0, 1]]) == (
        "price_sensitive",
        "mainstream",
        "quality_seeking",
    )


def _planted(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Three clear shopping styles: bargain hunters, premium buyers and the middle."""
    truth = rng.integers(0, 3, n)
    discount = np.array([0.55, 0.05, 0.2])[truth] + rng.normal(0, 0.06, n)
    premium = np.array([0.08, 0.65, 0.25])[truth] + rng.normal(0, 0.06, n)
    features = pd.DataFrame(
        {
            "discounted_line_share": discount.clip(0, 1),
            "discount_share_of_spend": (discount / 4).clip(0, 1),
            "premium_share": premium.clip(0, 1),
            "budget_share": (0.7 - premium + rng.normal(0, 0.05, n)).clip(0, 1),
            "avg_order_value": np.exp(np.array([5.9, 6.8, 6.4])[truth] + rng.normal(0, 0.3, n)),
            "orders_per_year": np.exp(rng.normal(2.0, 0.5, n)),
            "category_breadth": rng.integers(1, 8, n).astype(float),
        },
        index=pd.Index([f"C{i}" for i in range(n)], name="customer_id"),
    )
    return features, truth


def test_planted_styles_are_recovered_and_named():
    features, truth = _planted(np.random.default_rng(0), 900)
    model = personas.fit_personas(features)
    assigned = personas.assign_personas(model, features)
    assert adjusted_rand_score(truth, assigned["cluster"]) > 0.9
    named = pd.crosstab(truth, assigned["persona"]).idxmax(axis=1)
    assert list(named) == ["price_sensitive", "quality_seeking", "mainstream"]
    assert assigned["confidence"].between(0, 1).all()
    assert personas.stability(features, model) > 0.9
    profiles = personas.persona_profiles(features, assigned["persona"])
    assert profiles["customers"].sum() == 900
    assert "price sensitive" in " ".join(profiles["description"])
    # Same data, same personas.
    again = personas.assign_personas(personas.fit_personas(features), features)
    assert (again["persona"] == assigned["persona"]).all()


def test_too_few_buyers_is_not_enough_history():
    features, _ = _planted(np.random.default_rng(1), 50)
    with pytest.raises(NotEnoughHistory, match="100 customers"):
        personas.fit_personas(features)
