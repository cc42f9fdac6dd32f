"""The landing data contract: what each source delivers, where, and in which columns.

This module is the single home of the contract. The loader validates deliveries against it, the
demo-data generator writes to it, and `docs/data_contract.md` is rendered from it
(`weixi contract`), so the three can never drift apart.

Landing layout: ``<landing>/<source>/<YYYY-MM-DD>/<entity>*.<csv|jsonl>[.gz]``, names in any
case (see `ingest/landing.py`). The folder date is the delivery (partition) date. Several files
for one entity on one day are allowed (``orders.csv``, ``orders_2.csv``); all are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "integer", "decimal", "boolean", "date", "timestamp"]
FileFormat = Literal["csv", "jsonl"]

DUCKDB_TYPES: dict[str, str] = {
    "string": "varchar",
    "integer": "bigint",
    "decimal": "decimal(18,2)",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}

LINEAGE_COLUMNS: dict[str, str] = {
    "_partition_date": "date",
    "_file": "varchar",
    "_row_number": "bigint",
    "_load_id": "varchar",
    "_loaded_at": "timestamp",
}
"""Columns the loader adds to every raw row: the delivery date, file, row and load it came from."""


Limit = Literal["max_amount", "max_quantity"]
"""Upper bounds that depend on the shop; the loader takes their values from the settings
(``WEIXI_MAX_AMOUNT``, ``WEIXI_MAX_QUANTITY``)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    pii: bool = False
    minimum: float | None = None
    """Smallest value accepted (numbers)."""
    maximum: float | Limit | None = None
    """Largest value accepted (numbers): a number, or the name of a configurable limit."""
    not_after_delivery: bool = False
    """The value records something that has happened by the time the day is delivered, so a
    value later than the delivery day (plus the configured tolerance) is in the future."""
    identifier: bool = False
    """An id not named ``*_id`` (``referred_by`` holds a customer_id); see :attr:`is_id`."""

    @property
    def is_id(self) -> bool:
        """Ids (text columns named ``*_id``, and those marked ``identifier``) are trimmed of
        surrounding whitespace and otherwise kept exactly, case included."""
        return self.type == "string" and (self.identifier or self.name.endswith("_id"))

    @property
    def rule(self) -> str:
        """The value rules beyond type and allowed values, as the contract page shows them."""
        parts = []
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = (
                ""
                if self.maximum is None
                else (self.maximum if isinstance(self.maximum, str) else f"{self.maximum:g}")
            )
            parts.append(f"{low} .. {high}".strip())
        if self.not_after_delivery:
            parts.append("not after the delivery day")
        return "; ".join(parts)


@dataclass(frozen=True)
class Entity:
    """One kind of file within a source's daily delivery, loaded into ``raw.<source>__<name>``."""

    name: str
    format: FileFormat
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    parent: str | None = None
    """The entity of the same source whose rows these belong to, joined on the parent's key
    (order lines belong to orders): rows whose parent never arrived are counted and reported."""

    @property
    def file_glob(self) -> str:
        return f"{self.name}*.{self.format}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    entities: tuple[Entity, ...] = field(default_factory=tuple)
    daily: bool = True
    """False for a source delivered only now and then (past campaigns): no freshness warning
    when it has not delivered for a while."""

    def raw_table(self, entity: Entity) -> str:
        return f"raw.{self.name}__{entity.name}"


def _c(name: str, type_: ColumnType, description: str, **kwargs) -> Column:
    return Column(name, type_, description, **kwargs)


CONSENT_NOTE = "true: the customer agreed to be contacted on this channel"

CRM = Source(
    "crm",
    "CRM export: customers/accounts and B2B contacts, as the rows changed that day.",
    (
        Entity(
            "customers",
            "csv",
            "One row per customer created or changed that day; the latest `updated_at` wins.",
            ("customer_id",),
            (
                _c("customer_id", "string", "CRM customer or account id", required=True),
                _c(
                    "customer_type",
                    "string",
                    "consumer or business account",
                    required=True,
                    allowed=("consumer", "business"),
                ),
                _c("name", "string", "full name (business: company name)", pii=True),
                _c("email", "string", "e-mail as typed into the CRM", pii=True),
                _c("phone", "string", "phone as typed into the CRM, any format", pii=True),
                _c(
                    "gender",
                    "string",
                    "female, male or unknown",
                    allowed=("female", "male", "unknown"),
                ),
                _c("birthday", "date", "date of birth", pii=True, not_after_delivery=True),
                _c("city", "string", "city"),
                _c("region", "string", "region or province"),
                _c("occupation", "string", "occupation (consumers) or industry (business)"),
                _c(
                    "signup_date",
                    "date",
                    "date the customer signed up",
                    required=True,
                    not_after_delivery=True,
                ),
                _c(
                    "acquisition_channel",
                    "string",
                    "how the customer was acquired",
                    allowed=("search", "social", "referral", "store", "marketplace", "direct"),
                ),
                _c("account_manager_id", "string", "assigned account manager, if any"),
                _c(
                    "membership_tier",
                    "string",
                    "tier as recorded in the CRM",
                    allowed=("standard", "silver", "gold"),
                ),
                _c("email_consent", "boolean", CONSENT_NOTE + " (e-mail)"),
                _c("sms_consent", "boolean", CONSENT_NOTE + " (SMS)"),
                _c("wechat_consent", "boolean", CONSENT_NOTE + " (WeChat)"),
                _c("phone_consent", "boolean", CONSENT_NOTE + " (phone calls)"),
                _c(
                    "marketing_opt_out",
                    "boolean",
                    "true: opted out of all marketing, whatever the channel consents say",
                ),
                _c(
                    "opted_out_at",
                    "timestamp",
                    "when the marketing opt-out was recorded",
                    not_after_delivery=True,
                ),
                _c("tags", "string", "semicolon-separated CRM tags"),
                _c(
                    "social_handles",
                    "string",
                    "known social accounts, `platform:handle` separated by semicolons",
                    pii=True,
                ),
                _c(
                    "referred_by",
                    "string",
                    "customer_id of the referring customer",
                    identifier=True,
                ),
                _c(
                    "revisit_interval_days",
                    "integer",
                    "account-manager revisit cadence (B2B)",
                    minimum=1,
                ),
                _c("next_revisit_date", "date", "next planned account-manager visit (B2B)"),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the CRM row last changed",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
        Entity(
            "contacts",
            "csv",
            "B2B contacts of business accounts, with their role in the decision chain.",
            ("contact_id",),
            (
                _c("contact_id", "string", "contact id", required=True),
                _c("customer_id", "string", "the business account", required=True),
                _c("name", "string", "contact name", pii=True),
                _c("email", "string", "contact e-mail", pii=True),
                _c("phone", "string", "contact phone", pii=True),
                _c(
                    "role",
                    "string",
                    "role in the decision chain",
                    required=True,
                    allowed=("decision_maker", "influencer", "user"),
                ),
                _c("title", "string", "job title"),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the contact last changed",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
    ),
)

ORDERS = Source(
    "orders",
    "Shop / ERP export: the day's new and changed orders, their lines, and catalogue changes.",
    (
        Entity(
            "orders",
            "csv",
            "One row per order created or changed that day (status changes re-deliver the order).",
            ("order_id",),
            (
                _c("order_id", "string", "order id", required=True),
                _c("customer_id", "string", "CRM customer id; empty for guest checkouts"),
                _c("guest_email", "string", "e-mail given at guest checkout", pii=True),
                _c("guest_phone", "string", "phone given at guest checkout", pii=True),
                _c(
                    "ordered_at",
                    "timestamp",
                    "when the order was placed (shop local time)",
                    required=True,
                    not_after_delivery=True,
                ),
                _c(
                    "status",
                    "string",
                    "order status",
                    required=True,
                    allowed=("paid", "shipped", "cancelled", "refunded"),
                ),
                _c(
                    "channel",
                    "string",
                    "sales channel",
                    allowed=("app", "web", "mini_program", "store", "marketplace"),
                ),
                _c("currency", "string", "ISO currency code of the amounts"),
                _c(
                    "items_amount",
                    "decimal",
                    "sum of line amounts before order discount",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
                _c(
                    "discount_amount",
                    "decimal",
                    "order-level discount",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
                _c(
                    "shipping_amount",
                    "decimal",
                    "shipping charged",
                    minimum=0,
                    maximum="max_amount",
                ),
                _c(
                    "total_amount",
                    "decimal",
                    "amount paid: items - discount + shipping",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
                _c(
                    "refund_amount",
                    "decimal",
                    "amount refunded (refunded orders)",
                    minimum=0,
                    maximum="max_amount",
                ),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the order last changed",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
        Entity(
            "order_lines",
            "csv",
            "The lines of the orders first delivered that day.",
            ("order_id", "line_number"),
            (
                _c("order_id", "string", "order id", required=True),
                _c(
                    "line_number",
                    "integer",
                    "line number within the order",
                    required=True,
                    minimum=1,
                ),
                _c("product_id", "string", "product id", required=True),
                _c(
                    "quantity", "integer", "units", required=True, minimum=1, maximum="max_quantity"
                ),
                _c(
                    "unit_price",
                    "decimal",
                    "price per unit",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
                _c("discount_amount", "decimal", "line discount", minimum=0, maximum="max_amount"),
                _c(
                    "line_amount",
                    "decimal",
                    "quantity x unit price - line discount",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
            ),
            parent="orders",
        ),
        Entity(
            "products",
            "csv",
            "Catalogue rows added or changed that day (the first day carries the whole catalogue).",
            ("product_id",),
            (
                _c("product_id", "string", "product id", required=True),
                _c("product_name", "string", "product name (Chinese or English)"),
                _c("category", "string", "category", required=True),
                _c("subcategory", "string", "subcategory"),
                _c("brand", "string", "brand"),
                _c(
                    "price_band",
                    "string",
                    "price band within the category",
                    allowed=("budget", "mid", "premium"),
                ),
                _c(
                    "list_price",
                    "decimal",
                    "list price",
                    required=True,
                    minimum=0,
                    maximum="max_amount",
                ),
                _c("is_repeat_purchase", "boolean", "true for consumables a customer buys again"),
                _c(
                    "status",
                    "string",
                    "sale status",
                    required=True,
                    allowed=("active", "discontinued"),
                ),
                _c("launched_on", "date", "launch date"),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the product last changed",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
    ),
)

SERVICE = Source(
    "service",
    "Helpdesk / call-centre export: tickets opened or changed that day, and survey answers.",
    (
        Entity(
            "tickets",
            "csv",
            "One row per ticket opened or changed that day; the latest `updated_at` wins.",
            ("ticket_id",),
            (
                _c("ticket_id", "string", "ticket id", required=True),
                _c("customer_id", "string", "CRM customer id, when the agent linked one"),
                _c("contact_phone", "string", "caller's phone, any format", pii=True),
                _c("contact_email", "string", "sender's e-mail", pii=True),
                _c("order_id", "string", "order the ticket is about"),
                _c(
                    "channel",
                    "string",
                    "contact channel",
                    allowed=("phone", "wechat", "email", "web", "app"),
                ),
                _c(
                    "category",
                    "string",
                    "ticket category (complaint root cause)",
                    allowed=(
                        "delivery_delay",
                        "product_quality",
                        "wrong_item",
                        "refund_request",
                        "billing",
                        "inquiry",
                        "other",
                    ),
                ),
                _c("is_complaint", "boolean", "true for complaints", required=True),
                _c("severity", "string", "severity", allowed=("low", "medium", "high", "critical")),
                _c(
                    "status", "string", "ticket status", required=True, allowed=("open", "resolved")
                ),
                _c(
                    "opened_at",
                    "timestamp",
                    "when the ticket was received",
                    required=True,
                    not_after_delivery=True,
                ),
                _c(
                    "first_response_at",
                    "timestamp",
                    "first reply to the customer",
                    not_after_delivery=True,
                ),
                _c(
                    "resolved_at",
                    "timestamp",
                    "when the ticket was resolved",
                    not_after_delivery=True,
                ),
                _c(
                    "compensation_amount",
                    "decimal",
                    "compensation given",
                    minimum=0,
                    maximum="max_amount",
                ),
                _c("description", "string", "the customer's words (Chinese or English)"),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the ticket last changed",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
        Entity(
            "surveys",
            "csv",
            "Satisfaction (CSAT 1-5) and NPS (0-10) survey answers received that day.",
            ("survey_id",),
            (
                _c("survey_id", "string", "survey answer id", required=True),
                _c("ticket_id", "string", "ticket surveyed (CSAT), if any"),
                _c("customer_id", "string", "CRM customer id"),
                _c("survey_type", "string", "csat or nps", required=True, allowed=("csat", "nps")),
                _c(
                    "answered_at",
                    "timestamp",
                    "when the answer was given",
                    required=True,
                    not_after_delivery=True,
                ),
                _c(
                    "score", "integer", "CSAT 1-5 or NPS 0-10", required=True, minimum=0, maximum=10
                ),
                _c("comment", "string", "free-text comment"),
            ),
        ),
    ),
)

SOCIAL = Source(
    "social",
    "Social listening: WeChat, Xiaohongshu and Weibo posts, comments, mentions and shop reviews.",
    (
        Entity(
            "posts",
            "jsonl",
            "One JSON object per post, comment, review or mention published that day.",
            ("post_id",),
            (
                _c("post_id", "string", "post id", required=True),
                _c(
                    "platform",
                    "string",
                    "where it was published",
                    required=True,
                    allowed=("wechat", "xiaohongshu", "weibo", "review"),
                ),
                _c(
                    "post_type",
                    "string",
                    "kind of post",
                    allowed=("post", "comment", "review", "mention"),
                ),
                _c(
                    "author_handle",
                    "string",
                    "the author's handle on the platform",
                    required=True,
                    pii=True,
                ),
                _c("customer_id", "string", "CRM customer id, where the platform links one"),
                _c("product_id", "string", "product mentioned or reviewed"),
                _c(
                    "posted_at",
                    "timestamp",
                    "when it was published",
                    required=True,
                    not_after_delivery=True,
                ),
                _c("language", "string", "zh or en", allowed=("zh", "en")),
                _c("text", "string", "the text", required=True),
                _c("rating", "integer", "star rating 1-5 (reviews)", minimum=1, maximum=5),
                _c("likes", "integer", "likes", minimum=0),
            ),
        ),
    ),
)

CAMPAIGNS = Source(
    "campaigns",
    "Past campaigns imported from the tools that ran them, with their control groups, so that "
    "marts.campaign_lift can measure them. Delivered only when a shop imports campaigns: each "
    "file in the folder of any day on or after its assignments.",
    (
        Entity(
            "members",
            "csv",
            "One row per campaign and customer assigned to it, in the treatment group (sent) or "
            "the control group (held out, not sent); the latest `updated_at` wins.",
            ("campaign_id", "customer_id"),
            (
                _c("campaign_id", "string", "campaign id in the tool that ran it", required=True),
                _c(
                    "audience",
                    "string",
                    "the audience (strategy) the campaign belongs to; lift is reported per "
                    "audience, e.g. win_back_high_value",
                    required=True,
                ),
                _c("customer_id", "string", "CRM customer id", required=True),
                _c(
                    "assigned_on",
                    "date",
                    "day the customer was assigned (the send day); outcomes count from the "
                    "day after",
                    required=True,
                    not_after_delivery=True,
                ),
                _c(
                    "holdout_group",
                    "string",
                    "treatment (contacted) or control (held out at random, not contacted)",
                    required=True,
                    allowed=("treatment", "control"),
                ),
                _c(
                    "channel",
                    "string",
                    "channel the treatment was sent on (would have been, for control)",
                    allowed=("email", "sms", "wechat", "phone", "account_manager"),
                ),
                _c(
                    "updated_at",
                    "timestamp",
                    "when the row was exported from the campaign tool",
                    required=True,
                    not_after_delivery=True,
                ),
            ),
        ),
    ),
    daily=False,
)

SOURCES: tuple[Source, ...] = (CRM, ORDERS, SERVICE, SOCIAL, CAMPAIGNS)


def source(name: str) -> Source:
    """The source called ``name``; raises KeyError naming the known sources."""
    for s in SOURCES:
        if s.name == name:
            return s
    raise KeyError(f"unknown source {name!r}; known: {', '.join(s.name for s in SOURCES)}")


def render_markdown() -> str:
    """The contract as the Markdown page kept at docs/data_contract.md."""
    lines = [
        "# Landing data contract",
        "",
        "Generated from `ingest/contract.py` by `weixi contract`; do not edit by hand.",
        "",
        "Each source delivers one folder per day: `<landing>/<source>/<YYYY-MM-DD>/`, holding",
        "files named `<entity>*.csv` (header row, comma-separated, empty field = null) or",
        "`<entity>*.jsonl` (one JSON object per line). The folder date is the partition date.",
        "",
        "File names match case-insensitively (`Orders.csv`, `order_lines.CSV`), and a name",
        "ending in `.gz` (`orders.csv.gz`, `posts.jsonl.gz`) is decompressed and read. Names",
        "starting with `.` (`.DS_Store`) and `Thumbs.db`, `desktop.ini` are ignored. Anything",
        "else in a day folder (another name or format, `orders.xlsx`, a sub-folder) fails that",
        "source's load naming every such file, and so does a folder in `<landing>/<source>/`",
        "not named `YYYY-MM-DD` (`20261201`): a file that is not read must never pass as an",
        "empty delivery.",
        "",
        "Files are UTF-8; a GBK (GB18030) export is recognised and read as such, anything else",
        "(UTF-16, Shift-JIS, Latin-1) is refused, naming what the file looks like. Timestamps",
        "are shop local time, `YYYY-MM-DD HH:MM:SS` (two-digit minutes and seconds); one that",
        "carries a time zone (`Z`, `+08:00`, ` UTC`, ` America/New_York`) is converted exactly",
        "to shop local time, an unknown zone is not a valid timestamp. Dates `YYYY-MM-DD`;",
        "dates and timestamps before 1900-01-01 are quarantined. Booleans `true`/`false`;",
        "decimals use a dot. The last line of a CSV file must end with a line break: without",
        "one, the file may have been cut off mid-row (`110` for `110.90` still looks valid),",
        "so its last row is quarantined as truncated. In JSON Lines, a text column takes a",
        "string or a whole number (ids exported as numbers keep their digits); an object,",
        "array, boolean or decimal number there quarantines the row.",
        "",
        "Ids (text columns named `*_id`, and `referred_by`) are trimmed of surrounding",
        "whitespace (also tabs, no-break and ideographic spaces) and otherwise kept exactly as",
        "delivered: ids are case-sensitive (`O341` and `o341` are two orders), since many",
        "systems issue ids that differ only in case; a key that equals a loaded one but for",
        "case is logged as a warning. Within one day's delivery of an entity",
        "(all its files), a key may appear once: rows with the same key and different values",
        "are all quarantined, naming the key; an exact copy of a row loads once and the copies",
        "are quarantined as `exact duplicate of '<file>, row <n>'`. Order lines whose order is",
        "in no delivery loaded so far are kept, counted (`raw._loads.rows_without_parent`,",
        "`marts.data_quality_runs`) and warned about.",
        "",
        "A row that breaks a rule below (wrong number of fields, invalid JSON, a required value",
        "missing, a value that is not of the column's type or not among its allowed values,",
        "compared case-insensitively and stored lower-case, a number outside its range, a",
        "date or time later than its delivery day) is quarantined in `raw._quarantine` with",
        "its file, row number and reason. Ranges name the configurable limits `max_amount`",
        "(`WEIXI_MAX_AMOUNT`, default 1,000,000) and `max_quantity` (`WEIXI_MAX_QUANTITY`,",
        "default 10,000); *not after the delivery day* allows `WEIXI_FUTURE_TOLERANCE_HOURS`",
        "(default 1) past the end of the day for timestamps, and never later than the load.",
        "A file missing a required column, or in which not one value of a column is of its",
        "type (a changed type), fails the load, naming the file and the columns. Extra columns",
        "are ignored and reported. docs/bad_deliveries.md says what happens to every kind of",
        "bad delivery.",
        "",
        "Sources marked *occasional* deliver only now and then; they get no freshness warning.",
        "",
        "Every raw table also carries the lineage columns "
        + ", ".join(f"`{c}`" for c in LINEAGE_COLUMNS)
        + ".",
    ]
    for s in SOURCES:
        cadence = "" if s.daily else " (occasional)"
        lines += ["", f"## {s.name}{cadence}", "", s.description]
        for e in s.entities:
            lines += [
                "",
                f"### `{e.file_glob}` → `{s.raw_table(e)}`",
                "",
                e.description + f" Key: {', '.join(f'`{k}`' for k in e.key)}.",
                "",
                "| column | type | required | allowed values | range / rule | PII | description |",
                "|---|---|---|---|---|---|---|",
            ]
            for c in e.columns:
                lines.append(
                    f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | "
                    f"{', '.join(c.allowed)} | {c.rule} | {'yes' if c.pii else ''} | "
                    f"{c.description} |"
                )
    return "\n".join(lines) + "\n"
