"""Why a customer's churn score is high, in words a marketer understands.

A reason group's contribution is how much the model's log-odds fall when the group's features
are set to the typical customer's values (the training medians): exact for the logistic
regression (coefficient x standardised deviation, summed over the group), a what-if for the
trees, walked only from the splits where it leaves the customer's path (``TreeWhatIf``). It is
computed for all rows at once, and only where the group can become a reason, so 1M customers
take seconds. The groups that
raise the score most, by more than ``MIN_CONTRIBUTION``, are phrased from the customer's own
figures ("no purchase for 214 days, 3x the usual gap"), with numpy's vectorised strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.churn_features import group_columns, model_matrix
from ml.parallel import single_threaded

if TYPE_CHECKING:
    from ml.churn import ChurnModel

TOP_REASONS = 3
# Log-odds: about 2.5 percentage points of probability around 50%. Smaller pushes are noise
# to a marketer.
MIN_CONTRIBUTION = 0.1
NO_WARNING_SIGNS = "no warning signs"
_TEXT = np.dtypes.StringDType()


def _linear_weights(model: ChurnModel) -> np.ndarray | None:
    """Log-odds per unit of each feature when the explainer is a standardised linear model."""
    steps = getattr(model.explainer, "steps", None)
    if (
        steps
        and len(steps) == 2
        and hasattr(steps[0][1], "scale_")
        and hasattr(steps[1][1], "coef_")
    ):
        return steps[1][1].coef_[0] / steps[0][1].scale_
    return None


def group_contributions(
    model: ChurnModel, matrix: np.ndarray, needed: np.ndarray | None = None
) -> tuple[list[str], np.ndarray]:
    """Reason groups and, per row and group, the rise in log-odds over typical values.

    ``needed`` (rows x groups, in the order returned) limits the work to the pairs that can
    become reasons; the others are -inf."""
    contributions = _contributions(model, matrix, needed)
    return contributions.groups, contributions.rise


@dataclass(frozen=True)
class _Contributions:
    groups: list[str]
    rise: np.ndarray
    decision: np.ndarray | None
    """The trees' decision function of every row, when the pass over the trees found it."""


def _contributions(
    model: ChurnModel, matrix: np.ndarray, needed: np.ndarray | None
) -> _Contributions:
    groups = group_columns(model.features)
    if needed is None:
        needed = np.ones((len(matrix), len(groups)), dtype=bool)
    weights = _linear_weights(model)
    if weights is not None:
        contributions = np.full((len(matrix), len(groups)), -np.inf)
        for g, columns in enumerate(groups.values()):
            rise = (matrix[:, columns] - model.reference[columns]) @ weights[columns]
            contributions[needed[:, g], g] = rise[needed[:, g]]
        return _Contributions(list(groups), contributions, None)
    what_if = TreeWhatIf(model.explainer, model.reference, list(groups.values()))
    rise, decision = what_if.contributions(matrix, needed)
    return _Contributions(list(groups), rise, decision)


class TreeWhatIf:
    """The what-if of gradient-boosted trees, computed tree by tree where it can change.

    Setting a group's features to typical values changes a tree's value for a customer only
    when the customer's path through the tree passes a split on one of those features that
    the typical value takes the other way; from the first such split the what-if goes down
    the other branch. Which split that is depends only on the leaf the customer reaches, so
    it is worked out once per tree and leaf, and the customers of a leaf walk down from it
    together (a split on the group sends them all the typical way). A customer's path takes
    one pass over the trees, and the what-ifs only the short walks from those splits: at 1M
    customers about 150 short walks per customer instead of re-scoring all 200 trees for
    each of twelve groups. The rise is the sum of the changed trees' differences, which
    equals the whole model's difference up to rounding (about 1e-15).

    scikit-learn has no public per-tree API, so this reads the fitted
    ``HistGradientBoostingClassifier``'s predictors (``_predictors``: numeric splits only, as
    Weixi's models have), its bin mapper (``_bin_mapper``) and its starting value
    (``_baseline_prediction``), pinned by ``constraints.txt``; the unit tests compare it with
    ``decision_function`` and ``predict_proba``."""

    def __init__(self, model: Any, reference: np.ndarray, groups: list[list[int]]) -> None:
        self.model = model
        self.reference = reference
        self.group_of = np.full(len(reference), -1)
        for g, columns in enumerate(groups):
            self.group_of[columns] = g
        self.groups = len(groups)
        # A binary classifier has one tree per boosting iteration.
        self.trees = [_Tree.of(iteration[0], reference) for iteration in model._predictors]
        self.restarts = [self._restarts(tree) for tree in self.trees]

    def contributions(
        self, matrix: np.ndarray, needed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``matrix`` and group, the rise in log-odds over the typical values
        (-inf where not ``needed``); and per row the model's ``decision_function``, the sum
        of the leaves' values the same pass reaches, added in the model's order (so exactly
        its value, and the probability needs no second pass over the trees)."""
        matrix = self.model._preprocess_X(matrix, reset=False)
        rise = np.where(needed, 0.0, -np.inf).T.copy()
        decision = np.zeros(len(matrix)) + self.model._baseline_prediction.ravel()[0]
        # Per group and per feature, the rows' values side by side: the walks take a subset
        # of rows from one of them at a time.
        needed_by_group = np.ascontiguousarray(needed.T)
        walk = _Walk(np.ascontiguousarray(matrix.T), bool(np.isnan(matrix).any()))
        # The leaves are found on the values binned as in training (one byte per value, so
        # twice as fast as on the floats): a split "bin <= b" is "value <= the b-th bin
        # threshold", the tree's threshold, so every row reaches the same leaf.
        with single_threaded():
            binned = self.model._bin_mapper.transform(matrix)
        missing_bin = self.model._bin_mapper.missing_values_bin_idx_
        for tree, restart in zip(self.trees, self.restarts, strict=True):
            # Node numbers as 16-bit integers: numpy sorts those by radix, in one pass.
            leaves = tree.leaf_finder.predict_binned(binned, missing_bin, n_threads=1)
            leaves = leaves.astype(np.uint16)
            decision += tree.value[leaves]
            order = np.argsort(leaves, kind="stable")
            counts = np.bincount(leaves, minlength=len(tree.value))
            ends = np.cumsum(counts)
            for leaf in np.flatnonzero(counts):
                rows = order[ends[leaf] - counts[leaf] : ends[leaf]]
                for g in np.flatnonzero(restart[leaf] >= 0):
                    chosen = rows[needed_by_group[g].take(rows)]
                    for reached, part in self._walk(tree, walk, restart[leaf, g], chosen, g):
                        rise[g, part] += tree.value[leaf] - tree.value[reached]
        return rise.T, decision

    def _restarts(self, tree: _Tree) -> np.ndarray:
        """Per node and group: where the what-if of a customer reaching the node leaves their
        path (the other child at the first split on the group taken the other way by the
        typical value), or -1 when it follows it all the way."""
        restart = np.full((len(tree.value), self.groups), -1)
        stack = [0]
        while stack:
            node = stack.pop()
            if tree.is_leaf[node]:
                continue
            g = self.group_of[tree.feature[node]]
            for child, other, left in (
                (tree.left[node], tree.right[node], True),
                (tree.right[node], tree.left[node], False),
            ):
                restart[child] = restart[node]
                if restart[node, g] < 0 and tree.typical_left[node] != left:
                    restart[child, g] = other
                stack.append(child)
        return restart

    def _walk(
        self, tree: _Tree, walk: _Walk, start: int, rows: np.ndarray, g: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(leaf, rows reaching it) from ``start`` for ``rows`` of the matrix with group ``g``
        at typical values."""
        pending = [(start, rows)]
        while pending:
            node, rows = pending.pop()
            if len(rows) == 0:
                continue
            if tree.is_leaf[node]:
                yield node, rows
                continue
            feature = tree.feature[node]
            if self.group_of[feature] == g:
                typical = tree.left[node] if tree.typical_left[node] else tree.right[node]
                pending.append((typical, rows))
                continue
            values = walk.columns[feature].take(rows)
            left = values <= tree.threshold[node]
            if walk.missing:
                left = np.where(np.isnan(values), tree.missing_left[node], left)
            pending += [(tree.left[node], rows[left]), (tree.right[node], rows[~left])]


@dataclass(frozen=True)
class _Walk:
    """The matrix as the walks read it: one contiguous array per feature, and whether any
    value is missing (the trees send those to a side of their own)."""

    columns: np.ndarray
    missing: bool


@dataclass
class _Tree:
    """One fitted tree's nodes as plain arrays, and a copy that finds a row's leaf."""

    leaf_finder: Any
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    typical_left: np.ndarray

    @classmethod
    def of(cls, predictor: Any, reference: np.ndarray) -> _Tree:
        """The tree of ``predictor`` (a scikit-learn ``TreePredictor``), with the side of each
        split the ``reference`` values take."""
        nodes = predictor.nodes
        if nodes["is_categorical"].any() or len(nodes) >= 2**16:
            raise ValueError("reasons of trees with categorical splits or 65,536 nodes or more")
        numbered = nodes.copy()
        numbered["value"] = np.arange(len(nodes))
        feature = nodes["feature_idx"].astype(np.intp)
        return cls(
            leaf_finder=type(predictor)(
                numbered, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets
            ),
            feature=feature,
            threshold=nodes["num_threshold"].copy(),
            left=nodes["left"].astype(np.intp),
            right=nodes["right"].astype(np.intp),
            is_leaf=nodes["is_leaf"].astype(bool),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            value=nodes["value"].copy(),
            typical_left=reference[feature] <= nodes["num_threshold"],
        )


# Phrase building blocks: each takes and returns numpy arrays of the selected rows.
Columns = dict[str, np.ndarray]


def _join(*parts: np.ndarray | str) -> np.ndarray:
    return reduce(np.strings.add, parts)


def _int(values: np.ndarray) -> np.ndarray:
    # Branches are formatted for every row and then picked: a missing value in a branch that
    # is not picked must not fail.
    finite = np.nan_to_num(values.astype(float), nan=0.0, posinf=0.0, neginf=0.0)
    return np.round(finite).astype(np.int64).astype(_TEXT)


def _amount(values: np.ndarray) -> np.ndarray:
    """Whole amounts with thousands separators (up to 999,999,999)."""
    whole = np.round(np.nan_to_num(values.astype(float))).astype(np.int64)
    millions, thousands, units = whole // 1_000_000, whole // 1000 % 1000, whole % 1000

    def padded(part: np.ndarray) -> np.ndarray:
        return np.strings.zfill(part.astype(_TEXT), 3)

    return np.where(
        whole >= 1_000_000,
        _join(millions.astype(_TEXT), ",", padded(thousands), ",", padded(units)),
        np.where(
            whole >= 1000, _join(thousands.astype(_TEXT), ",", padded(units)), units.astype(_TEXT)
        ),
    )


def _count(values: np.ndarray, singular: str, plural: str | None = None) -> np.ndarray:
    noun = np.where(values == 1, singular, plural or singular + "s").astype(_TEXT)
    return _join(_int(values), " ", noun)


def _recency(c: Columns) -> np.ndarray:
    text = _join("no purchase for ", _int(c["recency_days"]), " days")
    overdue = np.nan_to_num(c["recency_gap_ratio"]) >= 1.5
    return np.where(
        overdue, _join(text, ", ", _int(c["recency_gap_ratio"]), "x the usual gap"), text
    )


def _frequency(c: Columns) -> np.ndarray:
    regular = _join(
        _count(c["purchases"], "purchase"), " so far, one every ", _int(c["mean_gap_days"]), " days"
    )
    return np.where(c["purchases"] > 1, regular, "bought only once")


def _trend(c: Columns) -> np.ndarray:
    last, prior = c["spend_last_90d"], c["spend_prior_90d"]
    down = _join(
        "spend down ",
        _int(100 * (1 - last / np.where(prior > 0, prior, 1))),
        "% on the previous quarter",
    )
    stopped = _join(
        "nothing bought in the last 90 days (spent ", _amount(prior), " in the 90 before)"
    )
    recent = _join(_count(c["purchases_last_90d"], "purchase"), " in the last 90 days")
    return np.select(
        [(last == 0) & (prior == 0), last == 0, last < prior],
        ["nothing bought in the last 6 months", stopped, down],
        recent,
    )


def _value(c: Columns) -> np.ndarray:
    return _join("spent only ", _amount(c["trailing_12m_spend"]), " in the last 12 months")


def _breadth(c: Columns) -> np.ndarray:
    return _join("buys from ", _count(c["categories"], "category", "categories"), " only")


def _refunds(c: Columns) -> np.ndarray:
    return _join(
        _count(c["refunds"], "refund"), " (", _int(100 * c["refund_share"]), "% of orders)"
    )


def _complaints(c: Columns) -> np.ndarray:
    return np.select(
        [c["unresolved_complaints"] > 0, c["complaints_last_90d"] > 0],
        [
            _count(c["unresolved_complaints"], "unresolved complaint"),
            _join(_count(c["complaints_last_90d"], "complaint"), " in the last 90 days"),
        ],
        _join(_count(c["complaints"], "complaint"), " so far"),
    )


def _handling(c: Columns) -> np.ndarray:
    late, unpaid = c["late_reply_complaints"], c["uncompensated_serious_complaints"]
    late_text = _join(_count(late, "complaint"), " answered late")
    unpaid_text = _join(_count(unpaid, "serious complaint"), " without compensation")
    slow = _join(
        "complaints took ", _int(c["avg_resolution_hours"]), " hours to resolve on average"
    )
    return np.select(
        [(late > 0) & (unpaid > 0), late > 0, unpaid > 0],
        [_join(late_text, ", ", unpaid_text), late_text, unpaid_text],
        slow,
    )


def _satisfaction(c: Columns) -> np.ndarray:
    csat = _join("last satisfaction score ", _int(c["last_csat"]), "/5")
    nps = _join("last NPS answer ", _int(c["last_nps"]), "/10")
    csat_low, nps_low = c["last_csat"] <= 3, c["last_nps"] <= 6
    return np.select(
        [csat_low & nps_low, csat_low, nps_low], [_join(csat, ", ", nps), csat, nps], csat
    )


def _sentiment(c: Columns) -> np.ndarray:
    score = np.round(np.nan_to_num(c["avg_sentiment_score"]), 1)
    sign = np.where(score >= 0, "+", "-").astype(_TEXT)
    tenths = np.round(np.abs(score) * 10).astype(np.int64)
    mood = _join(
        "posts with average sentiment ",
        sign,
        (tenths // 10).astype(_TEXT),
        ".",
        (tenths % 10).astype(_TEXT),
    )
    return np.select(
        [c["negative_posts"] > 0, c["posts"] > 0],
        [_count(c["negative_posts"], "negative post or review", "negative posts or reviews"), mood],
        "no posts or reviews",
    )


def _tenure(c: Columns) -> np.ndarray:
    days = c["tenure_days"]
    years = np.round(days / 365.25, 1)
    tenths = np.round(years * 10).astype(np.int64)
    older = _join(
        "customer for ", (tenths // 10).astype(_TEXT), ".", (tenths % 10).astype(_TEXT), " years"
    )
    return np.where(days >= 365, older, _join("customer for only ", _int(days), " days"))


def _account(c: Columns) -> np.ndarray:
    return _join(c["customer_type"], " account")


@dataclass(frozen=True)
class Reason:
    """How a reason group reads: the snapshot columns it needs, the phrase, and when the
    customer's figures are a concern at all (a group can push the score up for a customer
    whose figures are fine, e.g. a long tenure; that is no reason to give a marketer)."""

    columns: tuple[str, ...]
    phrase: Callable[[Columns], np.ndarray]
    concerning: Callable[[Columns], np.ndarray]


def _always(c: Columns) -> np.ndarray:
    return np.ones(len(next(iter(c.values()))), dtype=bool)


REASONS: dict[str, Reason] = {
    "recency": Reason(("recency_days", "recency_gap_ratio"), _recency, _always),
    "frequency": Reason(
        ("purchases", "mean_gap_days"),
        _frequency,
        lambda c: (c["purchases"] <= 3) | (np.nan_to_num(c["mean_gap_days"]) >= 60),
    ),
    "trend": Reason(
        ("spend_last_90d", "spend_prior_90d", "purchases_last_90d"),
        _trend,
        lambda c: (c["spend_last_90d"] < c["spend_prior_90d"]) | (c["spend_last_90d"] == 0),
    ),
    "value": Reason(
        ("membership_tier", "trailing_12m_spend"),
        _value,
        lambda c: c["membership_tier"] == "standard",
    ),
    "breadth": Reason(("categories",), _breadth, lambda c: c["categories"] <= 2),
    "refunds": Reason(("refunds", "refund_share"), _refunds, lambda c: c["refunds"] > 0),
    "complaints": Reason(
        ("complaints", "complaints_last_90d", "unresolved_complaints"),
        _complaints,
        lambda c: c["complaints"] > 0,
    ),
    "handling": Reason(
        ("late_reply_complaints", "uncompensated_serious_complaints", "avg_resolution_hours"),
        _handling,
        lambda c: (
            (c["late_reply_complaints"] > 0)
            | (c["uncompensated_serious_complaints"] > 0)
            | (np.nan_to_num(c["avg_resolution_hours"]) >= 48)
        ),
    ),
    "satisfaction": Reason(
        ("last_csat", "last_nps"),
        _satisfaction,
        lambda c: (c["last_csat"] <= 3) | (c["last_nps"] <= 6),
    ),
    "sentiment": Reason(
        ("posts", "negative_posts", "avg_sentiment_score"),
        _sentiment,
        lambda c: (c["negative_posts"] > 0) | (np.nan_to_num(c["avg_sentiment_score"]) < 0),
    ),
    "tenure": Reason(("tenure_days",), _tenure, lambda c: c["tenure_days"] < 365),
    "account": Reason(("customer_type",), _account, lambda c: ~_always(c)),
}
_TEXT_COLUMNS = {"membership_tier": "standard", "customer_type": "unknown"}


def _columns(snapshots: pd.DataFrame, names: tuple[str, ...], rows: np.ndarray | None) -> Columns:
    out = {}
    for name in names:
        series = snapshots[name] if rows is None else snapshots[name].iloc[rows]
        if name in _TEXT_COLUMNS:
            out[name] = series.fillna(_TEXT_COLUMNS[name]).to_numpy(dtype=object).astype(_TEXT)
        else:
            out[name] = series.to_numpy(dtype=float, na_value=np.nan)
    return out


@dataclass(frozen=True)
class Explanation:
    """The reasons of each snapshot row and, when working them out passed every row through
    the trees, the trees' decision function of each row (None for a linear model)."""

    reasons: pd.DataFrame
    decision: np.ndarray | None


def explain(
    model: ChurnModel,
    snapshots: pd.DataFrame,
    matrix: np.ndarray | None = None,
    top: int = TOP_REASONS,
) -> pd.DataFrame:
    """Columns ``reason_1`` .. ``reason_<top>`` for each snapshot row: the reason groups that
    raise the customer's score most, phrased from their figures. A customer with none gets
    ``no warning signs`` as reason_1 and no further reasons. ``matrix``: the snapshots' model
    matrix, when the caller has it already."""
    return explain_with_decision(model, snapshots, matrix, top).reasons


def explain_with_decision(
    model: ChurnModel,
    snapshots: pd.DataFrame,
    matrix: np.ndarray | None = None,
    top: int = TOP_REASONS,
) -> Explanation:
    """:func:`explain`, with the trees' decision function found on the way (see
    :class:`Explanation`), from which the model's probability follows without scoring again."""
    n = len(snapshots)
    reasons = [np.full(n, None, dtype=object) for _ in range(top)]
    decision = None
    if n:
        if matrix is None:
            matrix = model_matrix(snapshots, model.features)
        concerning = np.column_stack(
            [
                REASONS[group].concerning(_columns(snapshots, REASONS[group].columns, None))
                for group in group_columns(model.features)
            ]
        )
        found = _contributions(model, matrix, concerning)
        groups, contributions, decision = found.groups, found.rise, found.decision
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
        strong = np.take_along_axis(contributions, order, axis=1) > MIN_CONTRIBUTION
        for g, group in enumerate(groups):
            chosen = (order == g) & strong
            rows = np.flatnonzero(chosen.any(axis=1))
            if len(rows) == 0:
                continue
            reason = REASONS[group]
            text = reason.phrase(_columns(snapshots, reason.columns, rows)).astype(object)
            for k in range(top):
                in_slot = chosen[rows, k]
                reasons[k][rows[in_slot]] = text[in_slot]
        reasons[0][~strong[:, 0]] = NO_WARNING_SIGNS
    frame = pd.DataFrame(
        {f"reason_{k + 1}": pd.array(r, dtype="string") for k, r in enumerate(reasons)}
    )
    return Explanation(frame, decision)
