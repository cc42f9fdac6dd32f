"""Next products per customer: implicit-feedback item-item collaborative filtering over
purchase history, with a popularity fallback and the shop's exclusion rules.

A customer's score for product ``i`` is ``sum_j x_uj * sim(j, i)`` over the products ``j`` they
bought, where ``x_uj`` counts their purchases of ``j`` (lines), each decayed by its age
(``exp(-age / DECAY_DAYS)``), and ``sim`` is the cosine similarity of the two products' buyer
sets. A product's similarity with itself is 1, so consumables a customer keeps buying rank
high (the strongest signal in repeat-purchase shops). A small popularity term (distinct buyers
in the last ``POPULARITY_DAYS``) breaks ties and fills the list of customers without history.
Never recommended: products not for sale in the latest catalogue (discontinued, unknown) and
products the customer already bought that are not repeat purchases.

Customers and products are integer positions (``0..n-1``) into arrays the caller keeps; the
functions take ``scipy.sparse`` matrices and score in chunks, so a million customers fit in
memory and take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.history import NotEnoughHistory

MODEL_NAME = "recommendations"
DECAY_DAYS = 365.0
"""A purchase this many days old weighs 1/e of one made today."""
POPULARITY_DAYS = 90
POPULARITY_WEIGHT = 1e-3
"""Popularity is added at this fraction of the strongest collaborative score of one purchase,
so it only orders products the customer's history says nothing about."""
MAX_NEIGHBOURS = 200
"""Similar products kept per product: bounds memory and time for large catalogues."""
CHUNK_CELLS = 20_000_000
"""Customers x products scored at once (about 80 MB of float32)."""
DENSE_SHARE = 0.1
"""Similarity matrices filled more than this are multiplied as dense arrays."""
BACKTEST_DAYS = 30
MIN_TRAINING_DAYS = 90
MIN_BACKTEST_CUSTOMERS = 30

REASON_POPULAR, REASON_AGAIN, REASON_WITH = 0, 1, 2


@dataclass(frozen=True)
class Catalogue:
    """Per product position: may it be sold now, and is it bought again and again?"""

    sellable: np.ndarray
    repeatable: np.ndarray

    @property
    def size(self) -> int:
        return len(self.sellable)


@dataclass(frozen=True)
class Purchases:
    """Purchase lines as positions: ``customer``, ``product``, ``order_date`` and ``lines``
    (lines of that product in that customer's purchases that day)."""

    frame: pd.DataFrame
    customers: int

    def before(self, day: date) -> Purchases:
        return Purchases(self.frame[self.frame["order_date"] <= pd.Timestamp(day)], self.customers)


@dataclass(frozen=True)
class Recommendations:
    """Top products per customer, as parallel arrays (one element per recommendation)."""

    customer: np.ndarray
    rank: np.ndarray
    product: np.ndarray
    score: np.ndarray
    reason: np.ndarray
    """REASON_POPULAR, REASON_AGAIN or REASON_WITH"""
    reason_product: np.ndarray
    """The product of the history that contributed most (REASON_WITH, REASON_AGAIN)."""


def purchase_matrices(
    purchases: Purchases, n_products: int, as_of: date
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Customer x product matrices: decayed purchase counts, and bought (1) or not."""
    frame = purchases.frame
    age = (pd.Timestamp(as_of) - pd.to_datetime(frame["order_date"])).dt.days.to_numpy()
    weight = frame["lines"].to_numpy(dtype=np.float64) * np.exp(-np.maximum(age, 0) / DECAY_DAYS)
    shape = (purchases.customers, n_products)
    rows, cols = frame["customer"].to_numpy(), frame["product"].to_numpy()
    weighted = sp.csr_matrix((weight, (rows, cols)), shape=shape, dtype=np.float64)
    weighted.sum_duplicates()
    bought = weighted.copy()
    bought.data = np.ones_like(bought.data)
    return weighted.astype(np.float32), bought.astype(np.float32)


def item_similarity(bought: sp.csr_matrix) -> sp.csr_matrix:
    """Cosine similarity of products' buyer sets (product x product), 1 on the diagonal, the
    ``MAX_NEIGHBOURS`` most similar products kept per product (row)."""
    co = (bought.T @ bought).tocsr().astype(np.float64)
    buyers = co.diagonal()
    norm = np.sqrt(np.maximum(buyers, 1.0))
    co = sp.diags(1 / norm) @ co @ sp.diags(1 / norm)
    co = co.tocsr()
    co.setdiag(1.0)
    co.eliminate_zeros()
    return _keep_top_per_row(co, MAX_NEIGHBOURS).astype(np.float32)


def reindex_similarity(
    similarity: sp.csr_matrix, products: Sequence[str], now: Sequence[str]
) -> sp.csr_matrix:
    """``similarity`` of the catalogue ``products`` (ids in matrix order) laid out for the
    catalogue ``now``: products gone are dropped, new ones are similar only to themselves (1 on
    the diagonal, as :func:`item_similarity` gives), until the next fit sees their buyers."""
    position = pd.Index(now).get_indexer(pd.Index(products))
    matrix = similarity.tocoo()
    kept = (position[matrix.row] >= 0) & (position[matrix.col] >= 0)
    new = np.setdiff1d(np.arange(len(now)), position[position >= 0])
    rows = np.concatenate([position[matrix.row[kept]], new])
    cols = np.concatenate([position[matrix.col[kept]], new])
    values = np.concatenate([matrix.data[kept], np.ones(len(new), dtype=matrix.data.dtype)])
    return sp.csr_matrix((values, (rows, cols)), shape=(len(now), len(now)), dtype=np.float32)


def _keep_top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    counts = np.diff(matrix.indptr)
    if counts.max(initial=0) <= k:
        return matrix
    rows, cols, vals = [], [], []
    for r in np.flatnonzero(counts):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        keep = np.argsort(-matrix.data[start:end], kind="stable")[:k]
        rows.append(np.full(len(keep), r))
        cols.append(matrix.indices[start:end][keep])
        vals.append(matrix.data[start:end][keep])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=matrix.shape
    )


def popularity(purchases: Purchases, n_products: int, as_of: date) -> np.ndarray:
    """Distinct buyers per product in the ``POPULARITY_DAYS`` up to ``as_of``, plus a thousandth
    of its all-time buyers to order products nobody bought lately; scaled to max 1."""
    frame = purchases.frame
    recent = (
        frame["order_date"] > pd.Timestamp(as_of) - pd.Timedelta(days=POPULARITY_DAYS)
    ).to_numpy()
    customers, products = frame["customer"].to_numpy(), frame["product"].to_numpy()
    score = _buyers(customers[recent], products[recent], purchases.customers, n_products)
    score = score + 1e-3 * _buyers(customers, products, purchases.customers, n_products)
    top = score.max(initial=0)
    return (score / top if top > 0 else score).astype(np.float64)


def _buyers(
    customers: np.ndarray, products: np.ndarray, n_customers: int, n_products: int
) -> np.ndarray:
    """Distinct customers per product of the (customer, product) pairs: a sparse matrix merges
    the repeated pairs in linear time, where dropping duplicate rows of a frame sorts them."""
    pairs = sp.csr_matrix(
        (np.ones(len(customers), dtype=np.int8), (customers, products)),
        shape=(n_customers, n_products),
    )
    pairs.sum_duplicates()
    return np.bincount(pairs.indices, minlength=n_products)


def recommend(
    weighted: sp.csr_matrix,
    bought: sp.csr_matrix,
    similarity: sp.csr_matrix | None,
    popular: np.ndarray,
    catalogue: Catalogue,
    k: int,
) -> Recommendations:
    """The top ``k`` products for every customer (row): collaborative scores plus the
    popularity term, excluded products removed. ``similarity=None`` ranks by popularity only
    (the baseline). Deterministic: ties go to the lower product position."""
    n_customers, n_products = weighted.shape
    chunk = max(1, CHUNK_CELLS // max(n_products, 1))
    if similarity is not None and similarity.nnz > DENSE_SHARE * n_products**2:
        # Mostly filled (small catalogues): dense products are several times faster.
        similarity = similarity.toarray()
    parts = [
        _recommend_chunk(
            weighted[start : start + chunk],
            bought[start : start + chunk],
            similarity,
            popular,
            catalogue,
            k,
            start,
        )
        for start in range(0, n_customers, chunk)
    ]
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Recommendations(empty, empty, empty, np.zeros(0), empty, empty)
    return Recommendations(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def _recommend_chunk(
    weighted: sp.csr_matrix,
    bought: sp.csr_matrix,
    similarity: sp.csr_matrix | np.ndarray | None,
    popular: np.ndarray,
    catalogue: Catalogue,
    k: int,
    offset: int,
) -> tuple[np.ndarray, ...]:
    rows, n_products = weighted.shape
    k = min(k, n_products)
    # Customers without history (a fifth of a shop's: CRM customers who never bought) all get
    # the same list, popularity among the sellable products: ranked once, for an empty row.
    warm = np.flatnonzero((np.diff(weighted.indptr) > 0) | (np.diff(bought.indptr) > 0))
    no_history = sp.csr_matrix((1, n_products), dtype=weighted.dtype)
    ranked = [
        np.repeat(cold, rows, axis=0)
        for cold in _ranked(no_history, no_history, similarity, popular, catalogue, k)
    ]
    for full, part in zip(
        ranked,
        _ranked(weighted[warm], bought[warm], similarity, popular, catalogue, k),
        strict=True,
    ):
        full[warm] = part
    top, top_score, reason, reason_product = ranked

    keep = np.isfinite(top_score)
    customer = np.repeat(np.arange(rows), k).reshape(rows, k)
    rank = np.tile(np.arange(1, k + 1), (rows, 1))
    return (
        (customer[keep] + offset).astype(np.int64),
        rank[keep].astype(np.int64),
        top[keep].astype(np.int64),
        top_score[keep].astype(np.float64),
        reason[keep].astype(np.int64),
        reason_product[keep].astype(np.int64),
    )


def _ranked(
    weighted: sp.csr_matrix,
    bought: sp.csr_matrix,
    similarity: sp.csr_matrix | np.ndarray | None,
    popular: np.ndarray,
    catalogue: Catalogue,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row and rank (rows x ``k``): the product, its score (-inf: fewer than ``k``
    products may be recommended), the reason and the reason's product."""
    rows, n_products = weighted.shape
    if similarity is None:
        collaborative = np.zeros((rows, n_products), dtype=np.float32)
    else:
        product = weighted @ similarity
        collaborative = product if isinstance(product, np.ndarray) else product.toarray()
    score = collaborative + np.float32(POPULARITY_WEIGHT) * popular.astype(np.float32)
    score[:, ~catalogue.sellable] = -np.inf
    coo = bought.tocoo()
    once = ~catalogue.repeatable[coo.col]
    score[coo.row[once], coo.col[once]] = -np.inf

    top, top_score = _top(score, k)
    top_collaborative = np.take_along_axis(collaborative, top, axis=1)
    reason_product = _strongest_contribution(weighted, similarity, top)
    reason = np.where(
        top_collaborative <= 0,
        REASON_POPULAR,
        np.where(reason_product == top, REASON_AGAIN, REASON_WITH),
    )
    return top, top_score, reason, reason_product


def _top(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the positions of the ``k`` highest scores and the scores, best first, ties to
    the lower position. ``k`` passes of argmax (which returns the first of equal maxima), each
    masking what it found: with ``k`` small beside the row, eight times faster than
    ``argpartition`` and sorting the candidates. ``score`` is overwritten."""
    rows = np.arange(len(score))
    top = np.empty((len(score), k), dtype=np.int64)
    top_score = np.empty((len(score), k), dtype=score.dtype)
    for slot in range(k):
        top[:, slot] = score.argmax(axis=1)
        top_score[:, slot] = score[rows, top[:, slot]]
        score[rows, top[:, slot]] = -np.inf
    return top, top_score


def _strongest_contribution(
    weighted: sp.csr_matrix, similarity: sp.csr_matrix | np.ndarray | None, top: np.ndarray
) -> np.ndarray:
    """Per customer and recommended product, the product of the customer's history with the
    largest ``x_uj * sim(j, i)`` (-1 when none contributes; ties: the higher position)."""
    rows, k = top.shape
    best = np.full((rows, k), -1, dtype=np.int64)
    if similarity is None or weighted.nnz == 0:
        return best
    per_row = np.diff(weighted.indptr)
    buyers = np.flatnonzero(per_row)
    starts = weighted.indptr[buyers]
    entry_row = np.repeat(np.arange(rows), per_row)
    entry_buyer = np.repeat(np.arange(len(buyers)), per_row[buyers])
    history = weighted.indices.astype(np.int64)
    if isinstance(similarity, np.ndarray):
        # A dense matrix: one flat take per slot, several times faster than 2-d indexing.
        flat, row_start = similarity.ravel(), history * similarity.shape[1]
    for slot in range(k):
        target = top[:, slot][entry_row]
        if isinstance(similarity, np.ndarray):
            similar = flat.take(row_start + target)
        else:
            similar = np.asarray(similarity[history, target]).ravel()
        contribution = weighted.data * similar
        strongest = np.maximum.reduceat(contribution, starts)
        is_strongest = (contribution == strongest[entry_buyer]) & (contribution > 0)
        best[buyers, slot] = np.maximum.reduceat(np.where(is_strongest, history, -1), starts)
    return best


@dataclass(frozen=True)
class Backtest:
    """Precision@k, recall@k and hit rate of the model and of the popularity baseline on the
    purchases of the ``BACKTEST_DAYS`` after a cut-off, fitted on the purchases up to it."""

    cutoff: date
    customers: int
    """Customers who bought in the test window (the ones scored)."""
    warm_customers: int
    """Of those, customers with purchases before the cut-off."""
    precision: float
    recall: float
    hit_rate: float
    popularity_precision: float
    popularity_recall: float
    popularity_hit_rate: float


def backtest(purchases: Purchases, catalogue: Catalogue, as_of: date, k: int) -> Backtest:
    """Fit on the purchases up to ``as_of - BACKTEST_DAYS`` and compare the top ``k`` of the
    model and of popularity with what each customer bought in the days after.

    Raises ``NotEnoughHistory`` when the history is shorter than ``MIN_TRAINING_DAYS`` before
    the cut-off, or fewer than ``MIN_BACKTEST_CUSTOMERS`` customers bought after it."""
    frame = purchases.frame
    cutoff = (pd.Timestamp(as_of) - pd.Timedelta(days=BACKTEST_DAYS)).date()
    first = frame["order_date"].min() if len(frame) else None
    history_days = (pd.Timestamp(cutoff) - first).days if first is not None else 0
    if history_days < MIN_TRAINING_DAYS:
        raise NotEnoughHistory(
            MODEL_NAME,
            f"{MIN_TRAINING_DAYS + BACKTEST_DAYS} days of purchases for a time-split backtest",
            f"{max(history_days, 0) + BACKTEST_DAYS} days",
        )
    after = frame[frame["order_date"] > pd.Timestamp(cutoff)]
    truth = after[["customer", "product"]].drop_duplicates()
    customers = np.unique(truth["customer"].to_numpy())
    if len(customers) < MIN_BACKTEST_CUSTOMERS:
        raise NotEnoughHistory(
            MODEL_NAME,
            f"{MIN_BACKTEST_CUSTOMERS} customers buying in the last {BACKTEST_DAYS} days",
            f"{len(customers)}",
        )
    train = purchases.before(cutoff)
    weighted, bought = purchase_matrices(train, catalogue.size, cutoff)
    similarity = item_similarity(bought)
    popular = popularity(train, catalogue.size, cutoff)
    weighted, bought = weighted[customers], bought[customers]
    model = recommend(weighted, bought, similarity, popular, catalogue, k)
    baseline = recommend(weighted, bought, None, popular, catalogue, k)
    relevant = sp.csr_matrix(
        (
            np.ones(len(truth)),
            (np.searchsorted(customers, truth["customer"]), truth["product"]),
        ),
        shape=(len(customers), catalogue.size),
    )
    warm = int((np.diff(bought.indptr) > 0).sum())
    return Backtest(
        cutoff,
        len(customers),
        warm,
        *_ranking_figures(model, relevant, k),
        *_ranking_figures(baseline, relevant, k),
    )


def _ranking_figures(
    recommendations: Recommendations, relevant: sp.csr_matrix, k: int
) -> tuple[float, float, float]:
    """Mean precision@k, recall@k and hit rate over the rows of ``relevant``."""
    hit = np.asarray(relevant[recommendations.customer, recommendations.product]).ravel() > 0
    hits = np.bincount(recommendations.customer[hit], minlength=relevant.shape[0])
    wanted = np.diff(relevant.indptr)
    return (
        float(np.mean(hits / k)),
        float(np.mean(hits / np.maximum(wanted, 1))),
        float(np.mean(hits > 0)),
    )
