"""Recommendations on small hand-made baskets: exclusion rules, fallback, reasons, and a
learning check on generated baskets with planted pairs."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ml.history import NotEnoughHistory
from ml.recommend import (
    REASON_AGAIN,
    REASON_POPULAR,
    REASON_WITH,
    Catalogue,
    Purchases,
    backtest,
    item_similarity,
    popularity,
    purchase_matrices,
    recommend,
    reindex_similarity,
)

AS_OF = date(2025, 6, 30)


def purchases(rows: list[tuple[int, int, int]], customers: int) -> Purchases:
    """(customer, product, days before AS_OF) per purchase line."""
    frame = pd.DataFrame(rows, columns=["customer", "product", "days_ago"])
    frame["order_date"] = pd.Timestamp(AS_OF) - pd.to_timedelta(frame.pop("days_ago"), unit="D")
    frame["lines"] = 1
    return Purchases(frame, customers)


def top(history: Purchases, catalogue: Catalogue, k: int = 3) -> pd.DataFrame:
    weighted, bought = purchase_matrices(history, catalogue.size, AS_OF)
    recs = recommend(
        weighted,
        bought,
        item_similarity(bought),
        popularity(history, catalogue.size, AS_OF),
        catalogue,
        k,
    )
    return pd.DataFrame(recs.__dict__)


# Products: 0 formula, 1 diapers (both repeat purchases), 2 stroller (bought once),
# 3 discontinued bottle, 4 toy, 5 lamp.
CATALOGUE = Catalogue(
    sellable=np.array([True, True, True, False, True, True]),
    repeatable=np.array([True, True, False, True, False, False]),
)
# Customers 0-3 buy formula with diapers (and the discontinued bottle); 4-5 buy the stroller
# with the toy; 6 bought only formula; 7 bought only the stroller; 8 never bought.
HISTORY = purchases(
    [(c, p, 10) for c in range(4) for p in (0, 1, 3)]
    + [(c, p, 20) for c in (4, 5) for p in (2, 4)]
    + [(6, 0, 5), (7, 2, 5), (5, 5, 40)],
    customers=9,
)


def test_discontinued_products_are_never_recommended():
    recs = top(HISTORY, CATALOGUE, k=6)
    assert 3 not in set(recs["product"])
    assert len(recs) > 0


def test_a_product_bought_once_is_not_offered_again_but_consumables_are():
    recs = top(HISTORY, CATALOGUE, k=6)
    stroller_buyers = recs[recs["customer"].isin([4, 5, 7])]
    assert 2 not in set(stroller_buyers["product"])
    formula_buyer = recs[recs["customer"] == 6].set_index("product")
    assert formula_buyer.loc[0, "reason"] == REASON_AGAIN
    assert formula_buyer.loc[1, "reason"] == REASON_WITH
    assert formula_buyer.loc[1, "reason_product"] == 0


def test_bought_with_names_the_product_behind_it():
    recs = top(HISTORY, CATALOGUE, k=2)
    first = recs[(recs["customer"] == 6) & (recs["rank"] == 1)].iloc[0]
    second = recs[(recs["customer"] == 6) & (recs["rank"] == 2)].iloc[0]
    assert (first["product"], second["product"]) == (0, 1)
    toy = recs[(recs["customer"] == 7) & (recs["product"] == 4)].iloc[0]
    assert toy["reason"] == REASON_WITH and toy["reason_product"] == 2


def test_a_new_customer_gets_the_most_popular_sellable_products():
    recs = top(HISTORY, CATALOGUE, k=3)
    new = recs[recs["customer"] == 8].sort_values("rank")
    # Formula (5 recent buyers) and diapers (4) lead; the bottle has 4 but is discontinued.
    assert list(new["product"][:2]) == [0, 1]
    assert (new["reason"] == REASON_POPULAR).all()
    assert list(new["rank"]) == [1, 2, 3]


def test_fewer_sellable_products_than_k_gives_shorter_lists():
    recs = top(HISTORY, CATALOGUE, k=10)
    counts = recs.groupby("customer").size()
    assert counts.max() <= 5 and counts[4] == 3  # 5 sellable, minus the stroller and toy
    assert len(counts) == 9


def test_scoring_in_chunks_gives_the_same_lists(monkeypatch):
    whole = top(HISTORY, CATALOGUE, k=3)
    monkeypatch.setattr("ml.recommend.CHUNK_CELLS", 12)  # two customers per chunk
    chunked = top(HISTORY, CATALOGUE, k=3)
    pd.testing.assert_frame_equal(whole, chunked)


def test_lists_follow_a_full_sort_of_the_scores_ties_to_the_lower_product():
    # Scores compared with a brute-force ranking: the whole score matrix, a stable sort by
    # descending score (ties: lower product first), excluded products dropped. Similarities
    # in eighths (exact sums) and a flat popularity make ties, also at the k-th place.
    rng = np.random.default_rng(3)
    customers, products, k = 60, 25, 4
    bought = sp.random(customers, products, density=0.15, format="csr", random_state=rng)
    bought.data[:] = 1
    # Customers without history, first, in the middle and last: ranked once for all of them.
    no_history = [0, 17, customers - 1]
    bought = bought.toarray()
    bought[no_history] = 0
    bought = sp.csr_matrix(bought)
    weighted = bought.astype(np.float32)
    weighted.data = rng.integers(1, 3, len(weighted.data)).astype(np.float32)
    similarity = (rng.integers(0, 9, (products, products)) / 8).astype(np.float32)
    np.fill_diagonal(similarity, 1)
    popular = np.ones(products)
    catalogue = Catalogue(
        sellable=rng.random(products) > 0.2, repeatable=rng.random(products) > 0.5
    )
    recs = recommend(weighted, bought, sp.csr_matrix(similarity), popular, catalogue, k)

    score = weighted.toarray() @ similarity + np.float32(1e-3) * np.float32(1)
    allowed = catalogue.sellable & ~((bought.toarray() > 0) & ~catalogue.repeatable)
    for customer in range(customers):
        candidates = np.flatnonzero(allowed[customer])
        expected = candidates[np.argsort(-score[customer, candidates], kind="stable")][:k]
        got = recs.product[recs.customer == customer]
        assert got.tolist() == expected.tolist(), customer
    assert (recs.reason[np.isin(recs.customer, no_history)] == REASON_POPULAR).all()


def planted_baskets(customers: int, seed: int = 0) -> tuple[Purchases, Catalogue, list]:
    """A year of baskets over 40 products: each customer favours one of 4 product groups and
    buys a random product of it every few weeks; product 2i is then added with 2i+1 (and the
    reverse) with probability 0.7 for i < 5: the planted pairs."""
    rng = np.random.default_rng(seed)
    rows = []
    group = rng.integers(0, 4, customers)
    for customer in range(customers):
        for day in np.sort(rng.choice(365, rng.integers(2, 12), replace=False)):
            product = int(group[customer] * 10 + rng.integers(0, 10))
            rows.append((customer, product, 365 - int(day)))
            partner = product ^ 1
            if product < 10 and rng.random() < 0.7:
                rows.append((customer, partner, 365 - int(day)))
            if rng.random() < 0.2:
                rows.append((customer, int(rng.integers(0, 40)), 365 - int(day)))
    catalogue = Catalogue(sellable=np.ones(40, bool), repeatable=np.ones(40, bool))
    return purchases(rows, customers), catalogue, [(2 * i, 2 * i + 1) for i in range(5)]


def test_planted_pairs_are_each_others_most_similar_products():
    history, catalogue, pairs = planted_baskets(400)
    similarity = item_similarity(purchase_matrices(history, catalogue.size, AS_OF)[1]).toarray()
    np.fill_diagonal(similarity, 0)
    for a, b in pairs:
        assert similarity[a].argmax() == b and similarity[b].argmax() == a


def test_backtest_beats_popularity_when_there_is_structure_and_not_without():
    history, catalogue, _ = planted_baskets(600)
    result = backtest(history, catalogue, AS_OF, k=5)
    assert result.customers >= 100
    assert result.hit_rate > result.popularity_hit_rate + 0.15
    assert result.precision > 1.5 * result.popularity_precision
    assert result.recall > result.popularity_recall

    # The same purchases with products shuffled across customers: nothing left to learn.
    frame = history.frame.copy()
    frame["product"] = np.random.default_rng(1).permutation(frame["product"].to_numpy())
    noise = backtest(Purchases(frame, history.customers), catalogue, AS_OF, k=5)
    assert noise.hit_rate < noise.popularity_hit_rate + 0.05


def test_a_short_history_is_not_enough_for_a_backtest():
    short = purchases([(c, c % 3, d) for c in range(100) for d in (1, 40, 80)], customers=100)
    with pytest.raises(NotEnoughHistory, match="days of purchases"):
        backtest(short, CATALOGUE, AS_OF, k=3)


def test_similarities_follow_the_products_into_a_new_catalogue():
    old = ["P1", "P2", "P3"]
    similarity = sp.csr_matrix(
        np.array([[1, 0.5, 0.2], [0.5, 1, 0], [0.2, 0, 1]], dtype=np.float32)
    )
    # P2 left the catalogue, P4 is new, the order changed.
    now = ["P4", "P3", "P1"]
    moved = reindex_similarity(similarity, old, now).toarray()
    np.testing.assert_allclose(moved, [[1, 0, 0], [0, 1, 0.2], [0, 0.2, 1]])
