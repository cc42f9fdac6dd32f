"""The tables the model assets write: scores, values, personas, recommendations, text sentiment
and the validation figures of every model.

Their rows are assembled by the Dagster assets in ``orchestration/defs/ml/`` from the pure
functions of ``ml/`` (which know nothing of the warehouse), so their specs live here, where
libraries and dbt documentation can reach them too.
"""

from __future__ import annotations

from ml.personas import PROFILE_FEATURES
from warehouse.table_spec import SpecColumn, TableSpec

_CUSTOMER_ID = SpecColumn("customer_id", "string", "The customer (CRM customer id).")
_REFERENCE_DATE = SpecColumn(
    "reference_date",
    "date",
    "The date everything is computed as of (`intermediate.int_reference_date__selected`).",
)


def _model_version(example: str) -> SpecColumn:
    return SpecColumn("model_version", "string", f"The model that wrote the row, e.g. `{example}`.")


CHURN_SCORES = TableSpec(
    name="marts.churn_scores",
    description="Every active customer's calibrated probability of no purchase in the churn "
    "horizon, a risk band and up to three reasons, from the promoted churn model (see "
    "docs/churn.md). Empty while no model has been promoted.",
    grain="One row per active customer",
    key=("customer_id",),
    columns=(
        _CUSTOMER_ID,
        SpecColumn("as_of", "date", "The reference date of the scoring snapshot."),
        SpecColumn(
            "churn_probability",
            "float64",
            "Calibrated probability (0-1) of buying nothing in the churn horizon.",
        ),
        SpecColumn("risk_band", "string", "`high`, `medium` or `low`, by the risk cut-offs."),
        SpecColumn("reason_1", "string", "What raises the score most, in words."),
        SpecColumn("reason_2", "string", "The second reason, when there is one."),
        SpecColumn("reason_3", "string", "The third reason, when there is one."),
        _model_version("20251231T021503-3f2a9c"),
    ),
)

CUSTOMER_VALUE = TableSpec(
    name="marts.customer_value",
    description="BG/NBD + Gamma-Gamma lifetime value of every buyer and their value-matrix "
    "quadrant (see docs/value.md). Empty while the purchase history is too short to fit and "
    "validate the model.",
    grain="One row per customer with a purchase",
    key=("customer_id",),
    columns=(
        _CUSTOMER_ID,
        _REFERENCE_DATE,
        SpecColumn("first_purchase_date", "date", "First purchase day."),
        SpecColumn("last_purchase_date", "date", "Last purchase day up to the reference date."),
        SpecColumn("purchases", "int64", "Purchase days up to the reference date."),
        SpecColumn("repeat_purchases", "int64", "BG/NBD *x*: purchase days after the first."),
        SpecColumn("first_to_last_purchase_days", "int64", "BG/NBD *t_x* (days)."),
        SpecColumn(
            "customer_age_days",
            "int64",
            "BG/NBD *T*: days from the first purchase to the reference date.",
        ),
        SpecColumn(
            "current_value", "float64", "Net revenue of all purchases so far (CNY, 2 decimals)."
        ),
        SpecColumn(
            "p_alive",
            "float64",
            "P(the customer has not dropped out); 1 for every customer without a repeat "
            "purchase. Not a churn score.",
        ),
        SpecColumn("churn_horizon_days", "int64", "The churn horizon (days) of the next two."),
        SpecColumn(
            "expected_purchases_churn_horizon",
            "float64",
            "Expected purchases over the churn horizon.",
        ),
        SpecColumn(
            "p_no_purchase_churn_horizon", "float64", "P(no purchase over the churn horizon)."
        ),
        SpecColumn("ltv_horizon_months", "int64", "The lifetime-value horizon (months)."),
        SpecColumn(
            "expected_purchases_ltv_horizon", "float64", "Expected purchases over the LTV horizon."
        ),
        SpecColumn(
            "expected_spend_per_order",
            "float64",
            "Gamma-Gamma's expected net revenue of a future purchase day (CNY).",
        ),
        SpecColumn(
            "clv_12m", "float64", "The discounted value over the LTV horizon (CNY, 2 decimals)."
        ),
        SpecColumn("value_quadrant", "string", "`strategic`, `growth`, `basic` or `marginal`."),
        _model_version("bgnbd-gamma-gamma@2025-12-30"),
    ),
)

_FEATURE_MEANINGS = {
    "discounted_line_share": "Share of order lines bought on discount.",
    "discount_share_of_spend": "Discounts (line and order) as a share of the gross line value.",
    "premium_share": "Share of the line amount in the premium price band.",
    "budget_share": "Share of the line amount in the budget price band.",
    "avg_order_value": "Net revenue per order (CNY).",
    "orders_per_year": "Orders per year of customer age (at least 90 days).",
    "category_breadth": "Distinct categories bought.",
}
_FEATURES = tuple(SpecColumn(name, "float64", _FEATURE_MEANINGS[name]) for name in PROFILE_FEATURES)
_PROFILE_FEATURES = tuple(
    SpecColumn(
        c.name,
        c.type,
        f"Mean over the persona's customers: {c.description[0].lower()}{c.description[1:]}",
    )
    for c in _FEATURES
)

CUSTOMER_PERSONAS = TableSpec(
    name="marts.customer_personas",
    description="Each buyer's persona (how they shop: price-sensitive, quality-seeking, ...), "
    "from k-means over the shopping style, with the style features it was read from and how "
    "clearly it fits (see docs/value.md). Empty while there are too few buyers.",
    grain="One row per customer with a purchase",
    key=("customer_id",),
    columns=(
        _CUSTOMER_ID,
        _REFERENCE_DATE,
        SpecColumn("persona", "string", "The persona's name, e.g. `price_sensitive`."),
        SpecColumn("cluster", "int64", "The k-means cluster number."),
        SpecColumn(
            "distance",
            "float64",
            "Distance to the cluster centre, in standard deviations.",
        ),
        SpecColumn(
            "confidence",
            "float64",
            "1 - distance to the nearest / to the second-nearest centre: 0 on the border "
            "between two personas, near 1 in the middle of one.",
        ),
        *_FEATURES,
        _model_version("kmeans@2025-12-30"),
    ),
)

PERSONA_PROFILES = TableSpec(
    name="marts.persona_profiles",
    description="Each persona's size and average shopping style, with a description in words.",
    grain="One row per persona",
    key=("persona",),
    columns=(
        SpecColumn("persona", "string", "The persona's name."),
        SpecColumn("customers", "int64", "Customers with this persona."),
        SpecColumn("share", "float64", "Share of all customers with a persona."),
        *_PROFILE_FEATURES,
        SpecColumn("description", "string", "The persona's shopping style in words."),
        _REFERENCE_DATE,
        _model_version("kmeans@2025-12-30"),
    ),
)

RECOMMENDATIONS = TableSpec(
    name="marts.recommendations",
    description="The next products to offer each customer, best first, with the reason in "
    "words (item-item collaborative filtering with a popularity fallback; see "
    "docs/recommendations.md). Never a product the customer cannot be sold.",
    grain="One row per customer and rank",
    key=("customer_id", "rank"),
    columns=(
        _CUSTOMER_ID,
        SpecColumn("rank", "int64", "1 for the best recommendation."),
        SpecColumn("product_id", "string", "The recommended product."),
        SpecColumn("product_name", "string", "Its name (the id when it has none)."),
        SpecColumn("score", "float64", "The model's score; higher is better."),
        SpecColumn(
            "reason",
            "string",
            'The reason in words: "bought with ...", "buy again", "popular in ...".',
        ),
        SpecColumn("reason_kind", "string", "`bought_with`, `buy_again` or `popular`."),
        SpecColumn(
            "reason_product_id",
            "string",
            "The product the reason names (bought with / buy again); null for popular.",
        ),
        _model_version("item_similarity-2025-12-30"),
    ),
)

TEXT_SENTIMENT = TableSpec(
    name="ml.text_sentiment",
    description="The sentiment and themes of every version of a text customers wrote (post, "
    "ticket description, survey comment), scored from the raw deliveries before dbt runs (see "
    "docs/sentiment.md).",
    grain="One row per version of a text",
    key=("text_kind", "source_id", "text_hash"),
    columns=(
        SpecColumn("text_kind", "string", "`post`, `ticket` or `survey_comment`."),
        SpecColumn("source_id", "string", "`post_id`, `ticket_id` or `survey_id`."),
        SpecColumn(
            "text_hash",
            "string",
            "md5 of the text (join on `md5(text)` to find the score of a version).",
        ),
        SpecColumn("sentiment_score", "float64", "From -1 (negative) to 1 (positive)."),
        SpecColumn("sentiment_label", "string", "`negative`, `neutral` or `positive`."),
        SpecColumn("complaint_themes", "string_list", "The complaint themes the text names."),
        SpecColumn("praise_themes", "string_list", "The praise themes the text names."),
        SpecColumn(
            "scoring_method",
            "string",
            "`model`, or `lexicon` while there are too few labelled texts to train one.",
        ),
        _model_version("keyword_lexicon"),
    ),
)

CALIBRATION_PARTS = ("predicted", "observed", "rows")


def calibration_metric(bin_number: int, part: str) -> str:
    """The ``marts.model_validation`` metric of one part (``CALIBRATION_PARTS``) of one bin
    (1 for forecasts from 0 to 0.1, ..., 10 for 0.9 to 1) of a reliability diagram."""
    return f"calibration_bin_{bin_number:02d}_{part}"


MODEL_VALIDATION = TableSpec(
    name="marts.model_validation",
    description="The validation figures of every model version beside their naive baselines, "
    "so BI tools show them beside the scores; re-validating a version replaces its rows.",
    grain="One row per model version and metric",
    key=("model", "model_version", "metric"),
    columns=(
        SpecColumn(
            "model",
            "string",
            "`churn`, `customer_value`, `customer_personas`, `recommendations` or "
            "`text_sentiment`.",
        ),
        SpecColumn("model_version", "string", "The validated version."),
        SpecColumn("validated_at", "timestamp", "When it was validated (UTC)."),
        SpecColumn(
            "metric",
            "string",
            "The figure, e.g. `roc_auc`, `precision_at_10`; the churn model's reliability "
            "diagram as `calibration_bin_<01..10>_<predicted|observed|rows>` (mean forecast, "
            "share that churned and rows of each tenth of the probability range).",
        ),
        SpecColumn("value", "float64", "The model's figure."),
        SpecColumn("baseline", "string", "The baseline compared with, when there is one."),
        SpecColumn("baseline_value", "float64", "The baseline's figure."),
        SpecColumn("note", "string", "How it was validated, or why it was (not) promoted."),
    ),
)

ENGINE_OUTPUTS = (
    CHURN_SCORES,
    CUSTOMER_VALUE,
    CUSTOMER_PERSONAS,
    PERSONA_PROFILES,
    RECOMMENDATIONS,
    MODEL_VALIDATION,
)
"""The tables the model assets write through the warehouse resource, so Spark tables on
``WEIXI_ENGINE=spark`` (text sentiment writes the control file: ``TEXT_SENTIMENT``)."""
