"""The recommendations mart's rows from the scorer's positions: ids, names and reasons in words."""

import numpy as np
import pandas as pd

from ml.recommend import REASON_AGAIN, REASON_POPULAR, REASON_WITH, Recommendations
from orchestration.defs.ml.recommendations import (
    DAY_BITS,
    KEY_EPOCH,
    _lines_per_day,
    _top_products,
    recommendation_table,
)
from warehouse.model_outputs import RECOMMENDATIONS


def test_each_position_becomes_its_ids_names_and_reason_in_words():
    customers = pd.Series(["C1", "C2"])
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3"],
            "product_name": ["Tea", "Cup", "Pot"],
            "category": ["drinks", "kitchen", "kitchen"],
        }
    )
    recs = Recommendations(
        customer=np.array([0, 0, 1]),
        rank=np.array([1, 2, 1]),
        product=np.array([1, 0, 2]),
        score=np.array([0.9, 0.5, 0.1], dtype=np.float32),
        reason=np.array([REASON_WITH, REASON_AGAIN, REASON_POPULAR]),
        reason_product=np.array([0, 0, -1]),
    )
    table = recommendation_table(recs, customers, products, "v7")
    assert table.column_names == list(RECOMMENDATIONS.column_names)
    frame = pd.DataFrame({name: table.column(name).to_pylist() for name in table.column_names})
    assert frame[["customer_id", "product_id", "product_name", "reason"]].values.tolist() == [
        ["C1", "P2", "Cup", "bought with Tea"],
        ["C1", "P1", "Tea", "buy again"],
        ["C2", "P3", "Pot", "popular in kitchen"],
    ]
    assert frame["reason_kind"].tolist() == ["bought_with", "buy_again", "popular"]
    assert frame["reason_product_id"].tolist()[:2] == ["P1", "P1"]
    assert pd.isna(frame["reason_product_id"].iloc[2])
    assert frame["model_version"].tolist() == ["v7"] * 3
    assert frame["rank"].tolist() == [1, 2, 1]
    assert frame["score"].dtype == np.float64
    # Ties keep the products' id order, as a group-by on the ids would.
    assert "| P1 | Tea | 1 |\n| P2 | Cup | 1 |\n| P3 | Pot | 1 |" in _top_products(recs, products)


def test_purchase_lines_are_counted_per_customer_product_and_day_in_that_order():
    """The numpy group-by of the lines' keys gives what ``group by all order by all`` in SQL
    gave: the decayed sums depend on the row order, so it must be the same."""
    rng = np.random.default_rng(3)
    lines = {
        "customer": rng.integers(0, 40, 5_000),
        "product": rng.integers(0, 7, 5_000),
        "order_date": np.datetime64("2026-01-01") + rng.integers(0, 60, 5_000),
    }
    day = (lines["order_date"] - np.datetime64(KEY_EPOCH, "D")).astype(np.int64)
    keys = (lines["customer"] * 7 + lines["product"]) * 2**DAY_BITS + day
    expected = (
        pd.DataFrame(lines)
        .groupby(["customer", "product", "order_date"])
        .size()
        .rename("lines")
        .reset_index()
    )
    expected["order_date"] = expected["order_date"].astype("M8[us]")
    pd.testing.assert_frame_equal(_lines_per_day(keys, 7), expected, check_dtype=False)
    assert _lines_per_day(keys[:0], 7).empty
