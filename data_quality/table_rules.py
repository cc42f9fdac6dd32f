"""The output tables and their rules, one :class:`TableRules` entry per table.

Adding a table is one entry. The checks of an entry are registered only when an asset of that
table exists in the loaded definitions, so entries for models that have not landed yet are
harmless. ``data_quality.marts`` turns an entry into Great Expectations rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

POPULATIONS = {
    "crm_customers": "select distinct customer_id from staging.stg_crm__customers",
    "buyers": "select customer_id from marts.customer_360 where lifetime_orders > 0",
    # Active: at least one purchase, the last within churned_after_days (lifecycle applies it).
    "active_customers": (
        "select customer_id from marts.customer_360 "
        "where lifecycle_stage not in ('prospect', 'churned')"
    ),
}
"""Customers a per-customer table must hold, by name."""

REFERENCE_DATE_SQL = "select max(reference_date) from marts.customer_360"
"""The date the marts of the current build are computed as of."""

DAYS_BEHIND = "_days_behind_reference"
"""Derived column: days from the table's as-of date to the current reference date."""


@dataclass(frozen=True)
class TableRules:
    """The rules of one output table. Integrity rules block; freshness rules warn."""

    table: str
    key: tuple[str, ...]
    not_null: tuple[str, ...] = ()
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    probabilities: tuple[str, ...] = ()
    allowed: dict[str, tuple[object, ...]] = field(default_factory=dict)
    population: str | None = None
    as_of: str | None = None
    delivered_on: str | None = None
    """The column holding the delivery day a row was last written for, in a table the
    incremental models rewrite per delivery window: a run over delivery days then checks its
    key only for the keys of the rows delivered in them, each against the whole table
    (grouping every key of a fact table is most of its check). The other rules read every row."""

    def __post_init__(self) -> None:
        if self.delivered_on and len(self.key) != 1:
            raise ValueError(f"{self.table}: delivered_on needs a key of one column")

    @property
    def asset_key(self) -> tuple[str, ...]:
        """The Dagster asset key of the table: ``(schema, name)``."""
        return tuple(self.table.split("."))

    @property
    def coverage_dataset(self) -> str:
        return f"{self.table}__coverage"

    @property
    def columns(self) -> list[str]:
        """Every column a rule names, in a stable order."""
        named = [
            *self.key,
            *self.not_null,
            *self.ranges,
            *self.probabilities,
            *self.allowed,
            *([self.as_of] if self.as_of else []),
        ]
        return list(dict.fromkeys(named))


MART_RULES: tuple[TableRules, ...] = (
    TableRules(
        "marts.customer_360",
        key=("customer_id",),
        not_null=(
            "customer_type",
            "reference_date",
            "lifetime_orders",
            "membership_tier",
            "lifecycle_stage",
            "email_consent",
            "sms_consent",
            "wechat_consent",
            "phone_consent",
            "marketing_opt_out",
        ),
        ranges={
            "lifetime_orders": (0, None),
            "lifetime_net_revenue": (0, None),
            "days_since_last_order": (0, None),
            "tenure_days": (0, None),
            "refunds": (0, None),
            "tickets": (0, None),
            "complaints": (0, None),
            "last_csat": (1, 5),
            "last_nps": (0, 10),
            "avg_rating": (1, 5),
            "sentiment_score": (-1, 1),
            "trailing_12m_spend": (0, None),
        },
        probabilities=("complaint_first_reply_sla_rate",),
        allowed={
            "customer_type": ("consumer", "business"),
            "membership_tier": ("standard", "silver", "gold"),
            "lifecycle_stage": ("prospect", "new", "repeat", "loyal", "at_risk", "churned"),
        },
        population="crm_customers",
    ),
    TableRules(
        "marts.customer_rfm",
        key=("customer_id",),
        not_null=("rfm_segment", "value_class"),
        ranges={
            "recency_days": (0, None),
            "frequency": (1, None),
            "monetary": (0, None),
            "r_score": (1, 5),
            "f_score": (1, 5),
            "m_score": (1, 5),
        },
        allowed={"value_class": ("high_value", "potential", "general", "low_value")},
        population="buyers",
        as_of="reference_date",
    ),
    TableRules(
        "marts.fct_orders",
        key=("order_id",),
        not_null=("ordered_at", "order_date", "is_purchase", "match_method", "delivered_on"),
        ranges={
            "items_amount": (0, None),
            "total_amount": (0, None),
            "refund_amount": (0, None),
            "net_revenue": (0, None),
        },
        allowed={
            "order_status": ("paid", "shipped", "refunded", "cancelled"),
            "match_method": ("customer_id", "email", "phone", "unmatched"),
        },
        delivered_on="delivered_on",
    ),
    TableRules(
        "marts.fct_order_lines",
        key=("order_line_id",),
        not_null=("order_id", "product_id"),
        ranges={"quantity": (1, None), "unit_price": (0, None), "line_amount": (0, None)},
        delivered_on="delivered_on",
    ),
    TableRules(
        "marts.kpi_daily",
        key=("kpi_date",),
        not_null=("orders", "revenue"),
        ranges={
            "orders": (0, None),
            "buyers": (0, None),
            "new_customers": (0, None),
            "revenue": (0, None),
            "active_customers_30d": (0, None),
        },
        probabilities=("repurchase_rate",),
    ),
    TableRules(
        "marts.identity_match_rates",
        key=("source_entity",),
        ranges={"row_count": (0, None), "unmatched": (0, None)},
        probabilities=("match_rate",),
        allowed={"source_entity": ("orders", "tickets", "posts")},
    ),
    # The model marts: registered once their assets exist.
    TableRules(
        "marts.churn_scores",
        key=("customer_id",),
        not_null=("as_of", "churn_probability", "risk_band"),
        probabilities=("churn_probability",),
        population="active_customers",
        as_of="as_of",
    ),
    TableRules(
        "marts.customer_value",
        key=("customer_id",),
        not_null=("p_alive", "clv_12m"),
        ranges={"clv_12m": (0, None)},
        probabilities=("p_alive",),
        population="active_customers",
    ),
    TableRules(
        "marts.customer_personas",
        key=("customer_id",),
        population="active_customers",
    ),
    TableRules(
        "marts.recommendations",
        key=("customer_id", "rank"),
        not_null=("product_id", "score"),
        ranges={"rank": (1, None)},
        population="active_customers",
    ),
    TableRules(
        "marts.product_associations",
        key=(),
        probabilities=("support", "confidence"),
        ranges={"lift": (0, None)},
    ),
    # Activation: the night's audiences and the account managers' task lists.
    TableRules(
        "marts.audience_members",
        key=("audience", "customer_id"),
        not_null=(
            "audience_date",
            "kind",
            "channel",
            "priority",
            "template_key",
            "holdout_group",
            "is_new_entry",
            "reason",
            "payload",
        ),
        allowed={
            "kind": ("marketing", "service", "task"),
            "channel": ("email", "sms", "wechat", "phone", "account_manager"),
            "holdout_group": ("treatment", "control"),
        },
    ),
    TableRules(
        "marts.account_manager_tasks",
        key=("task", "customer_id"),
        not_null=("task_date", "account_manager_id", "due_date", "reason"),
    ),
    TableRules(
        "marts.model_validation",
        key=("model", "model_version", "metric"),
        not_null=("value",),
    ),
    TableRules(
        "marts.campaign_lift",
        key=("audience", "window_days", "metric"),
        not_null=(
            "reference_date",
            "treatment_customers",
            "control_customers",
            "pending_assignments",
            "window_complete",
            "is_primary",
            "status",
        ),
        ranges={
            "window_days": (1, None),
            "treatment_customers": (0, None),
            "control_customers": (0, None),
            "pending_assignments": (0, None),
        },
        probabilities=("p_value", "adjusted_p_value"),
        allowed={
            "metric": ("repurchase_rate", "revenue_per_customer", "churn_rate"),
            "status": ("primary", "secondary", "no_control", "window_incomplete", "too_few"),
            "verdict": ("works", "harms", "no_evidence"),
        },
    ),
)


def registered(existing: set[tuple[str, ...]]) -> list[TableRules]:
    """The registry entries whose table is an asset key in ``existing``."""
    return [entry for entry in MART_RULES if entry.asset_key in existing]
