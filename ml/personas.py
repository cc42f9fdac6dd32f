"""Personas: customers clustered by how they shop, each cluster named from its profile.

The clustering space is the shopping style: how much a customer buys on discount, the discount
share of their spend, how much of it is premium or budget, their order value and how often they
order. Category breadth is reported in each profile but not clustered on: it grows with the
number of lines bought, so it would mostly split heavy from light buyers, which RFM and the
value matrix already do.

Shares are between 0 and 1; order value and orders per year are skewed, so they enter as
log1p. Every feature is standardised (z-score), then k-means clusters them, with k chosen by
silhouette over ``CLUSTER_COUNTS`` and a fixed random state. Names come from matching cluster
centres to named archetypes (one name per cluster, by the Hungarian method), so the same kind
of cluster gets the same name on every run whatever k-means numbers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from ml.history import NotEnoughHistory

MODEL = "customer_personas"
FEATURES = (
    "discounted_line_share",
    "discount_share_of_spend",
    "premium_share",
    "budget_share",
    "avg_order_value",
    "orders_per_year",
)
LOG_FEATURES = ("avg_order_value", "orders_per_year")
PROFILE_FEATURES = (*FEATURES, "category_breadth")
CLUSTER_COUNTS = range(3, 7)
# Shorter customer ages would make one order look like a high ordering rate.
MIN_AGE_DAYS = 90
MIN_CUSTOMERS = 100
# Choosing k and the stability check run on a sample of customers, and the silhouette on a
# smaller one: it costs O(n^2).
SAMPLE_SIZE = 20_000
SILHOUETTE_SAMPLE_SIZE = 5_000
# Archetype directions over FEATURES (z-scores); a cluster whose centre points nowhere in
# particular (projection below MAINSTREAM_SCORE on every archetype) is mainstream.
ARCHETYPES = {
    "price_sensitive": (1.0, 1.0, -0.5, 1.0, -0.5, 0.0),
    "quality_seeking": (-0.5, -0.5, 1.0, -0.5, 1.0, 0.0),
    "frequent_buyers": (0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "occasional_buyers": (0.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "big_baskets": (0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
}
MAINSTREAM = "mainstream"
MAINSTREAM_SCORE = 0.5
TOTALS_COLUMNS = (
    "customer_id",
    "first_order_date",
    "orders",
    "net_revenue",
    "lines",
    "discounted_lines",
    "gross_amount",
    "discount_amount",
    "line_amount",
    "premium_amount",
    "budget_amount",
    "categories",
)


def persona_features(totals: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per customer the style features (``PROFILE_FEATURES``) from their purchase totals.

    ``totals`` has one row per customer with ``TOTALS_COLUMNS``: orders and net revenue of
    their purchases, order lines, lines bought on discount, gross line value (quantity x unit
    price), discounts (line and order), line amounts in total and in the premium and budget
    bands, distinct categories. A customer without lines gets the median share of others."""
    missing = [c for c in TOTALS_COLUMNS if c not in totals.columns]
    if missing:
        raise KeyError(f"persona totals lack column(s) {', '.join(missing)}")
    t = totals.set_index("customer_id")
    age = (pd.Timestamp(as_of) - pd.to_datetime(t["first_order_date"])).dt.days
    features = pd.DataFrame(
        {
            "discounted_line_share": _ratio(t["discounted_lines"], t["lines"]),
            "discount_share_of_spend": _ratio(t["discount_amount"], t["gross_amount"]),
            "premium_share": _ratio(t["premium_amount"], t["line_amount"]),
            "budget_share": _ratio(t["budget_amount"], t["line_amount"]),
            "avg_order_value": _ratio(t["net_revenue"], t["orders"]),
            "orders_per_year": t["orders"] / np.maximum(age, MIN_AGE_DAYS) * 365,
            "category_breadth": t["categories"].astype(float),
        }
    )
    return features.fillna(features.median()).fillna(0.0)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    denominator = denominator.astype(float)
    return numerator.astype(float).div(denominator.where(denominator > 0)).clip(lower=0)


@dataclass(frozen=True)
class PersonaModel:
    """Standardisation, the fitted k-means and the persona name of each cluster."""

    mean: np.ndarray
    scale: np.ndarray
    kmeans: KMeans
    names: tuple[str, ...]
    silhouettes: dict[int, float]

    @property
    def k(self) -> int:
        return len(self.names)

    def standardise(self, features: pd.DataFrame) -> np.ndarray:
        """The features as z-scores in the clustering space."""
        return (_logged(features) - self.mean) / self.scale


def fit_personas(features: pd.DataFrame, random_state: int = 0) -> PersonaModel:
    """Cluster the customers in ``features`` (from ``persona_features``) and name the clusters."""
    if len(features) < MIN_CUSTOMERS:
        raise NotEnoughHistory(
            MODEL, f"{MIN_CUSTOMERS} customers with purchases", f"{len(features)}"
        )
    values = _logged(features)
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale[scale == 0] = 1.0
    z = (values - mean) / scale
    sample = _sample(len(z), random_state)
    silhouettes, centres = {}, {}
    for k in CLUSTER_COUNTS:
        on_sample = KMeans(k, n_init=4, random_state=random_state).fit(z[sample])
        centres[k] = on_sample.cluster_centers_
        silhouettes[k] = float(
            silhouette_score(
                z[sample],
                on_sample.labels_,
                sample_size=min(SILHOUETTE_SAMPLE_SIZE, len(sample)),
                random_state=random_state,
            )
        )
    k = max(silhouettes, key=lambda c: (silhouettes[c], -c))
    # All customers, starting from the sample's centres (the same clusters, one run).
    kmeans = KMeans(k, init=centres[k], n_init=1, random_state=random_state).fit(z)
    return PersonaModel(mean, scale, kmeans, name_clusters(kmeans.cluster_centers_), silhouettes)


def _logged(features: pd.DataFrame) -> np.ndarray:
    values = features[list(FEATURES)].to_numpy(dtype=float).copy()
    logged = [FEATURES.index(f) for f in LOG_FEATURES]
    values[:, logged] = np.log1p(values[:, logged])
    return values


def _sample(n: int, random_state: int) -> np.ndarray:
    if n <= SAMPLE_SIZE:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, SAMPLE_SIZE, replace=False))


def name_clusters(centres: np.ndarray) -> tuple[str, ...]:
    """One persona name per cluster centre (z-scores over ``FEATURES``): the assignment of
    archetypes to clusters that maximises the total projection of the centres on the archetype
    directions; ``mainstream`` scores ``MAINSTREAM_SCORE`` for any cluster."""
    names = [*ARCHETYPES, MAINSTREAM]
    directions = np.array([np.array(v) / np.linalg.norm(v) for v in ARCHETYPES.values()])
    scores = np.column_stack([centres @ directions.T, np.full(len(centres), MAINSTREAM_SCORE)])
    if len(centres) > len(names):
        raise ValueError(f"personas: {len(centres)} clusters but only {len(names)} names")
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return tuple(names[c] for _, c in sorted(zip(rows, cols, strict=True)))


def assign_personas(model: PersonaModel, features: pd.DataFrame) -> pd.DataFrame:
    """Each customer's persona, cluster number, distance to the cluster centre (in standard
    deviations) and confidence: 1 - distance to the nearest / distance to the second-nearest
    centre (0 on the border between two personas, near 1 in the middle of one)."""
    distances = model.kmeans.transform(model.standardise(features))
    nearest = np.argsort(distances, axis=1)[:, :2]
    d1 = np.take_along_axis(distances, nearest[:, :1], axis=1)[:, 0]
    d2 = np.take_along_axis(distances, nearest[:, 1:], axis=1)[:, 0]
    return pd.DataFrame(
        {
            "persona": np.array(model.names, dtype=object)[nearest[:, 0]],
            "cluster": nearest[:, 0],
            "distance": d1,
            "confidence": np.where(d2 > 0, 1 - d1 / np.where(d2 > 0, d2, 1), 0.0),
        },
        index=features.index,
    )


def stability(features: pd.DataFrame, model: PersonaModel, random_state: int = 0) -> float:
    """How reproducible the personas are: refit k-means (same k) on a random half of the
    customers and compare its assignment of the other half with the model's (adjusted Rand
    index; 1 = identical, 0 = chance)."""
    z = model.standardise(features)
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(z))[: 2 * min(len(z) // 2, SAMPLE_SIZE)]
    half, other = order[: len(order) // 2], order[len(order) // 2 :]
    refit = KMeans(model.k, n_init=4, random_state=random_state + 1).fit(z[half])
    return float(adjusted_rand_score(model.kmeans.predict(z[other]), refit.predict(z[other])))


def persona_profiles(features: pd.DataFrame, personas: pd.Series) -> pd.DataFrame:
    """One row per persona: customers, share, mean of each profile feature and a description
    in words."""
    grouped = features[list(PROFILE_FEATURES)].groupby(personas.rename("persona"))
    profiles = grouped.mean()
    profiles.insert(0, "customers", grouped.size())
    profiles.insert(1, "share", profiles["customers"] / len(features))
    profiles["description"] = [_describe(name, row) for name, row in profiles.iterrows()]
    return profiles.reset_index().sort_values("customers", ascending=False, ignore_index=True)


def _describe(name: str, row: pd.Series) -> str:
    return (
        f"{name.replace('_', ' ')}: {row['customers']:,.0f} customers ({row['share']:.0%}); "
        f"{row['discounted_line_share']:.0%} of lines bought on discount, "
        f"{row['discount_share_of_spend']:.0%} discount on spend, "
        f"{row['premium_share']:.0%} premium and {row['budget_share']:.0%} budget, "
        f"{row['avg_order_value']:,.0f} per order, {row['orders_per_year']:.1f} orders a year, "
        f"{row['category_breadth']:.1f} categories"
    )
