"""The audience builder: one night's audience members from the definitions and the candidates.

Steps, in this order (docs/activation.md, "The rules"):

1. **Select**: each definition's ``where`` over the candidates, with its ``reason`` and payload.
2. **Channel**: the first channel of the preference order the customer consents to, has an
   identifier for and is not suppressed on; erased customers and (for marketing and tasks)
   marketing opt-outs are dropped whatever the candidates say.
3. **New entry**: not a member of the audience on the previous audience date of the history.
4. **Dedupe**: an audience with ``dedupe_days`` takes no second entry of a customer within them.
5. **Frequency cap**: a customer's new marketing entries, highest priority first, while the
   contacts of the last ``cap_days`` days (today included) stay within ``cap_contacts``;
   control-group entries count, so the cap is decided before the holdout.
6. **Holdout**: a stable share of each audience goes to the control group.

Every step is a pure function of frames; :func:`build_audiences` runs them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from activation.audience_definitions import (
    ACCOUNT_MANAGER,
    MARKETING,
    SERVICE,
    TASK,
    AudienceDefinition,
    check_against_candidates,
)
from activation.holdout import TREATMENT, holdout_groups
from warehouse.table_spec import SpecColumn, TableSpec

AUDIENCE_MEMBERS = TableSpec(
    name="marts.audience_members",
    description="Tonight's members of every audience in the registry, each with its channel, "
    "control group and reason, after consent, suppressions, deduplication and the frequency "
    "cap (see docs/activation.md). No contact identifiers.",
    grain="One row per audience and customer on the audience date",
    key=("audience", "customer_id"),
    columns=(
        SpecColumn("audience_date", "date", "The reference date of the marts the night used."),
        SpecColumn("audience", "string", "The audience's name in the registry."),
        SpecColumn("kind", "string", "`marketing`, `service` or `task`."),
        SpecColumn("customer_id", "string", "The member."),
        SpecColumn(
            "channel", "string", "The first channel of the audience's order the member can get."
        ),
        SpecColumn(
            "priority", "int32", "The audience's priority (the frequency cap keeps the highest)."
        ),
        SpecColumn("template_key", "string", "The message template marketing tools send."),
        SpecColumn("holdout_group", "string", "`treatment` or `control`."),
        SpecColumn(
            "is_new_entry",
            "bool",
            "Not a member of the audience on the previous audience date.",
        ),
        SpecColumn("reason", "string", "Why the customer is in the audience, in words."),
        SpecColumn("payload", "string", "The audience's fields for the message, as JSON text."),
    ),
)
AUDIENCE_HISTORY = replace(
    AUDIENCE_MEMBERS,
    name="activation.audience_history",
    description="The members of every audience date, as marts.audience_members holds them for "
    "one; re-running a date replaces that date's rows.",
    grain="One row per audience date, audience and customer",
    key=("audience_date", "audience", "customer_id"),
)
ACCOUNT_MANAGER_TASKS = TableSpec(
    name="marts.account_manager_tasks",
    description="Who each account manager should call today and why, with the context of the "
    "call: the treatment members of `task` audiences (also one CSV per manager).",
    grain="One row per open task",
    key=("task", "customer_id"),
    columns=(
        SpecColumn("task_date", "date", "The audience date."),
        SpecColumn("account_manager_id", "string", "The account manager to call."),
        SpecColumn("customer_id", "string", "The customer to call."),
        SpecColumn(
            "customer_name",
            "string",
            "Their name (the list is for the company's own account managers).",
        ),
        SpecColumn("task", "string", "The task audience, e.g. `strategic_account_revisit`."),
        SpecColumn("priority", "int32", "The audience's priority."),
        SpecColumn("reason", "string", "Why, in words."),
        SpecColumn(
            "due_date",
            "date",
            "The planned revisit, or the task date when that has passed.",
        ),
        SpecColumn("last_order_date", "date", "The customer's last order day."),
        SpecColumn("last_order_amount", "money", "Its net revenue (CNY)."),
        SpecColumn("open_complaints", "int64", "Complaints not yet resolved."),
        SpecColumn("churn_probability", "float64", "From marts.churn_scores."),
        SpecColumn("churn_risk_band", "string", "`high`, `medium` or `low`."),
        SpecColumn("churn_reasons", "string", "The churn reasons, `; `-separated."),
        SpecColumn(
            "recommended_products", "string", "The first three recommendations, `; `-separated."
        ),
    ),
)
# A task is due on the planned revisit date, or today when that has passed.
TASKS_SQL = f"""
select
    members.audience_date as task_date,
    candidates.account_manager_id,
    members.customer_id,
    customers.customer_name,
    members.audience as task,
    members.priority,
    members.reason,
    greatest(candidates.planned_revisit_date, members.audience_date) as due_date,
    candidates.last_order_date,
    candidates.last_order_amount,
    candidates.open_complaints,
    candidates.churn_probability,
    candidates.churn_risk_band,
    candidates.churn_reasons,
    candidates.recommended_products
from marts.audience_members as members
inner join marts.audience_candidates as candidates using (customer_id)
inner join marts.customer_360 as customers using (customer_id)
where members.kind = '{TASK}' and members.holdout_group = '{TREATMENT}'
order by candidates.account_manager_id, due_date, members.priority desc, members.customer_id
"""
"""The rows of :data:`ACCOUNT_MANAGER_TASKS`, from tonight's members and their candidates."""
# Why a selected customer is not a member, in the order the rules are applied.
ERASED = "erased"
OPTED_OUT = "opted_out"
NO_CONSENT = "no_consent"
NO_IDENTIFIER = "no_identifier"
SUPPRESSED = "suppressed"
DEDUPLICATED = "deduplicated"
CAPPED = "capped"
EXCLUSION_RULES = (ERASED, OPTED_OUT, NO_CONSENT, NO_IDENTIFIER, SUPPRESSED, DEDUPLICATED, CAPPED)

# Which candidate columns say a customer may be reached on a channel, and can be.
CONSENT_COLUMN = {
    "email": "email_consent",
    "sms": "sms_consent",
    "wechat": "wechat_consent",
    "phone": "phone_consent",
}
IDENTIFIER_COLUMN = {
    "email": "has_email",
    "sms": "has_phone",
    "wechat": "has_wechat",
    "phone": "has_phone",
    ACCOUNT_MANAGER: "has_account_manager",
}
ALL_CHANNELS = "all"
ERASURE = "erasure"
REACH_COLUMNS = (
    "customer_id",
    *CONSENT_COLUMN.values(),
    "has_email",
    "has_phone",
    "has_wechat",
    "account_manager_id",
    "marketing_opt_out",
)
"""The candidate columns the builder reads besides those the definitions name."""
HISTORY_COLUMNS = ("audience_date", "audience", "kind", "customer_id", "is_new_entry")
"""The history columns the rules look back on."""


@dataclass(frozen=True)
class Rules:
    """The configurable safety rules (settings ``frequency_cap_*`` and ``holdout_share``)."""

    cap_contacts: int = 2
    cap_days: int = 7
    holdout_share: float = 0.10


@dataclass(frozen=True)
class AudienceBuild:
    """A night's members (columns of :data:`AUDIENCE_MEMBERS`) and who was left out by which rule
    (``audience``, ``rule``, ``customer_id``)."""

    members: pd.DataFrame
    exclusions: pd.DataFrame

    def exclusion_counts(self) -> pd.DataFrame:
        """Customers left out per audience and rule (no customer ids)."""
        return (
            self.exclusions.groupby(["audience", "rule"], as_index=False)
            .size()
            .rename(columns={"size": "customers"})
        )


def build_audiences(
    definitions: Sequence[AudienceDefinition],
    candidates: pd.DataFrame,
    audience_date: date,
    history: pd.DataFrame | None = None,
    suppressions: pd.DataFrame | None = None,
    rules: Rules = Rules(),
    source: Path | str = "<definitions>",
    selected: pd.DataFrame | None = None,
) -> AudienceBuild:
    """The members of every audience on ``audience_date``.

    ``candidates``: the columns of ``marts.audience_candidates``, or only
    :data:`REACH_COLUMNS` when ``selected`` is given (:func:`select_members` already run where
    the candidates are, so the definitions' columns need not be read). ``history``: earlier
    dates' members (:data:`HISTORY_COLUMNS`; rows of ``audience_date`` itself are ignored, so a
    re-run gives the same result). ``suppressions``: rows of ``governance.suppressions``
    (``customer_id``, ``channel``, ``reason``), applied again whatever the candidates say.
    ``source`` names the definitions file in errors.
    """
    history = _history_before(history, audience_date)
    if selected is None:
        selected = _select_from_frame(definitions, candidates, source)
    routed, excluded = choose_channels(selected, definitions, candidates, suppressions)
    routed = mark_new_entries(routed, history, audience_date)
    routed, deduped = deduplicate(routed, definitions, history, audience_date)
    routed, capped = apply_frequency_cap(routed, history, audience_date, rules)
    members = assign_holdout(routed, definitions, rules.holdout_share)
    members.insert(0, "audience_date", audience_date)
    members = members[list(AUDIENCE_MEMBERS.column_names)].sort_values(["audience", "customer_id"])
    exclusions = pd.concat([excluded, deduped, capped], ignore_index=True)
    return AudienceBuild(members.reset_index(drop=True), exclusions)


def select_members(
    definitions: Sequence[AudienceDefinition],
    con: duckdb.DuckDBPyConnection,
    candidates: str,
    source: Path | str = "<definitions>",
) -> pd.DataFrame:
    """One row per audience and selected customer: ``audience``, ``customer_id``, ``reason``
    and ``payload`` (a JSON object of the payload columns), from the table or view
    ``candidates`` of ``con``. The definitions are checked against the candidates' columns
    first (:func:`check_against_candidates`)."""
    check_against_candidates(definitions, con, candidates, source)
    parts = []
    for definition in definitions:
        payload = ", ".join(f"'{c}', \"{c}\"" for c in definition.payload)
        parts.append(
            con.execute(
                f"""
                select
                    ? as audience,
                    customer_id,
                    coalesce(cast(({definition.reason}) as varchar), ?) as reason,
                    cast(json_object({payload}) as varchar) as payload
                from {candidates}
                where coalesce(({definition.where}), false)
                """,
                [definition.name, definition.purpose],
            ).df()
        )
    return pd.concat(parts, ignore_index=True) if parts else _empty_selection()


def _select_from_frame(
    definitions: Sequence[AudienceDefinition], candidates: pd.DataFrame, source: Path | str
) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        con.register("candidates", candidates)
        return select_members(definitions, con, "candidates", source)
    finally:
        con.close()


def choose_channels(
    selected: pd.DataFrame,
    definitions: Sequence[AudienceDefinition],
    candidates: pd.DataFrame,
    suppressions: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``selected`` with the channel of each member, and the selected customers without one
    (``audience``, ``rule``, ``customer_id``), the first rule that stopped them."""
    by_name = {d.name: d for d in definitions}
    reach = _reachability(candidates, suppressions)
    # The reachability of each selected row, by position: a merge would copy the reason and
    # payload texts of a million members.
    if not reach["customer_id"].is_unique:
        raise ValueError("the candidates hold a customer_id more than once")
    position = pd.Index(reach["customer_id"]).get_indexer(selected["customer_id"])
    if (position < 0).any():
        raise ValueError("a selected customer_id is not in the candidates")
    frame = selected.reset_index(drop=True)
    for column in reach.columns.drop("customer_id"):
        frame[column] = reach[column].to_numpy()[position]
    # Each audience routes its rows as numpy arrays of the reachability columns only: slicing
    # the whole frame (payload texts included) per audience was most of this step at 1M.
    routing = frame[list(reach.columns.drop("customer_id"))]
    channel = np.full(len(frame), None, dtype=object)
    rule = np.full(len(frame), None, dtype=object)
    for name, rows in frame.groupby("audience", sort=False).indices.items():
        channel[rows], rule[rows] = _route(by_name[name], routing.iloc[rows])
    routed = pd.notna(channel)
    channel = pd.array(channel, dtype="string")
    rule = pd.array(rule, dtype="string")
    frame["channel"] = channel
    kind = frame["audience"].map({d.name: d.kind for d in definitions})
    frame["kind"] = kind
    frame["priority"] = (
        frame["audience"].map({d.name: d.priority for d in definitions}).astype("int64")
    )
    frame["template_key"] = frame["audience"].map({d.name: d.template_key for d in definitions})
    kept = frame.loc[
        routed,
        [
            "audience",
            "kind",
            "customer_id",
            "channel",
            "priority",
            "template_key",
            "reason",
            "payload",
        ],
    ]
    excluded = pd.DataFrame(
        {"audience": frame["audience"], "rule": rule, "customer_id": frame["customer_id"]}
    )[~routed]
    return kept.reset_index(drop=True), excluded.reset_index(drop=True)


def _route(definition: AudienceDefinition, part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The chosen channel and, where there is none, the rule that stopped the member (object
    arrays, None where not set)."""

    def flag(column: str) -> np.ndarray:
        return part[column].fillna(False).astype(bool).to_numpy()

    n = len(part)
    chosen = np.full(n, None, dtype=object)
    unset = np.ones(n, dtype=bool)
    consented = np.zeros(n, dtype=bool)
    identified = np.zeros(n, dtype=bool)
    blocked_sets = part["blocked_channels"].to_numpy(dtype=object)
    blocked_all = np.fromiter((ALL_CHANNELS in b for b in blocked_sets), dtype=bool, count=n)
    for channel in definition.channels:
        consent = (
            np.ones(n, dtype=bool) if channel == ACCOUNT_MANAGER else flag(CONSENT_COLUMN[channel])
        )
        has_id = flag(IDENTIFIER_COLUMN[channel])
        blocked = np.fromiter((channel in b for b in blocked_sets), dtype=bool, count=n)
        if definition.kind != SERVICE:
            blocked |= blocked_all
        consented |= consent
        identified |= consent & has_id
        usable = consent & has_id & ~blocked & unset
        chosen[usable] = channel
        unset &= ~usable
    why = np.full(n, SUPPRESSED, dtype=object)
    why[~identified] = NO_IDENTIFIER
    why[~consented] = NO_CONSENT
    if definition.kind in (MARKETING, TASK):
        opted_out = flag("opted_out")
        why[opted_out] = OPTED_OUT
        chosen[opted_out] = None
    erased = flag("erased")
    why[erased] = ERASED
    chosen[erased] = None
    why[pd.notna(chosen)] = None
    return chosen, why


def _reachability(candidates: pd.DataFrame, suppressions: pd.DataFrame | None) -> pd.DataFrame:
    """Per customer: consent and identifier columns, whether erased or opted out of marketing
    (candidates or ledger), and the set of channels the ledger suppresses."""
    columns = ["customer_id", *CONSENT_COLUMN.values(), "has_email", "has_phone", "has_wechat"]
    reach = candidates[columns].copy()
    reach["has_account_manager"] = candidates["account_manager_id"].notna()
    ledger = suppressions if suppressions is not None else _empty_suppressions()
    blocked = ledger.groupby("customer_id")["channel"].agg(frozenset)
    erased = set(ledger.loc[ledger["reason"] == ERASURE, "customer_id"])
    ledger_opt_out = set(ledger.loc[ledger["channel"] == ALL_CHANNELS, "customer_id"])
    reach["blocked_channels"] = reach["customer_id"].map(blocked)
    reach["blocked_channels"] = reach["blocked_channels"].map(
        lambda b: b if isinstance(b, frozenset) else frozenset()
    )
    reach["erased"] = reach["customer_id"].isin(erased)
    reach["opted_out"] = candidates["marketing_opt_out"].fillna(False).astype(bool) | reach[
        "customer_id"
    ].isin(ledger_opt_out)
    return reach


def mark_new_entries(
    members: pd.DataFrame, history: pd.DataFrame, audience_date: date
) -> pd.DataFrame:
    """``is_new_entry``: the customer was not in the audience on the latest history date
    before ``audience_date`` (every member is new when there is none)."""
    earlier = history[history["audience_date"] < audience_date]
    out = members.copy()
    if earlier.empty:
        out["is_new_entry"] = True
        return out
    previous = earlier.loc[
        earlier["audience_date"] == earlier["audience_date"].max(), ["audience", "customer_id"]
    ]
    # One hash join: a set of (audience, customer) tuples walked a million Arrow strings twice.
    keys = ["audience", "customer_id"]
    held = previous.astype(object).drop_duplicates().assign(_held=True)
    found = out[keys].astype(object).merge(held, on=keys, how="left")["_held"]
    out["is_new_entry"] = found.isna().to_numpy()
    return out


def deduplicate(
    members: pd.DataFrame,
    definitions: Sequence[AudienceDefinition],
    history: pd.DataFrame,
    audience_date: date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop new entries into an audience with ``dedupe_days`` when the customer already entered
    it within that many days (one message per customer and audience in the window)."""
    windows = {d.name: d.dedupe_days for d in definitions if d.dedupe_days}
    entered = history[history["is_new_entry"].astype(bool) & history["audience"].isin(windows)]
    last_entry = (
        entered.groupby(["audience", "customer_id"], as_index=False)["audience_date"]
        .max()
        .astype({"audience": object, "customer_id": object})
    )
    keys = members[["audience", "customer_id"]].astype(object)
    # A left merge on a unique right side keeps the members' rows and order.
    last = keys.merge(last_entry, on=["audience", "customer_id"], how="left")["audience_date"]
    entered_days_ago = (pd.Timestamp(audience_date) - pd.to_datetime(last)).dt.days.to_numpy()
    window = keys["audience"].map(windows).to_numpy(dtype=float, na_value=np.nan)
    drop = members["is_new_entry"].astype(bool).to_numpy() & (entered_days_ago < window)
    drop = pd.Series(drop, index=members.index, dtype=bool)
    return members[~drop].reset_index(drop=True), _exclusions(members[drop], DEDUPLICATED)


def apply_frequency_cap(
    members: pd.DataFrame, history: pd.DataFrame, audience_date: date, rules: Rules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep a customer's new marketing entries, highest priority first (ties: audience name),
    while their contacts in the last ``rules.cap_days`` days, today included, stay within
    ``rules.cap_contacts``. Earlier contacts come from ``history`` (control rows included)."""
    window_start = audience_date - timedelta(days=rules.cap_days - 1)
    past = history[
        (history["kind"] == MARKETING)
        & history["is_new_entry"].astype(bool)
        & (history["audience_date"] >= window_start)
        & (history["audience_date"] < audience_date)
    ]
    used = past.groupby("customer_id").size()
    contacts = members[(members["kind"] == MARKETING) & members["is_new_entry"].astype(bool)]
    # Sorted on integer codes (factorize with sort keeps the text order): sorting the texts
    # themselves took seconds per million members.
    customer, _ = pd.factorize(contacts["customer_id"], sort=True)
    audience, _ = pd.factorize(contacts["audience"], sort=True)
    order = np.lexsort((audience, -contacts["priority"].to_numpy(dtype=np.int64), customer))
    sorted_customer = customer[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_customer[1:] != sorted_customer[:-1]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start + 1
    allowed = rules.cap_contacts - contacts["customer_id"].iloc[order].map(used).fillna(0).to_numpy(
        dtype=np.int64
    )
    # In the order of the ranking, as the exclusions list them.
    capped_at = members.index.get_indexer(contacts.index[order[rank > allowed]])
    over = np.zeros(len(members), dtype=bool)
    over[capped_at] = True
    capped = members.iloc[capped_at]
    return members[~over].reset_index(drop=True), _exclusions(capped, CAPPED)


def assign_holdout(
    members: pd.DataFrame, definitions: Sequence[AudienceDefinition], default_share: float
) -> pd.DataFrame:
    """``holdout_group`` per member: ``control`` for a stable share of each audience (the
    audience's ``holdout_share``, else ``default_share``), else ``treatment``."""
    shares = {
        d.name: default_share if d.holdout_share is None else d.holdout_share for d in definitions
    }
    out = members.copy()
    groups = np.full(len(out), None, dtype=object)
    for name, rows in out.groupby("audience", sort=False).indices.items():
        part = out.iloc[rows]
        groups[rows] = holdout_groups(part["audience"], part["customer_id"], shares[name])
    out["holdout_group"] = pd.array(groups, dtype="string")
    return out


def _history_before(history: pd.DataFrame | None, audience_date: date) -> pd.DataFrame:
    if history is None or history.empty:
        return pd.DataFrame(
            {
                "audience_date": pd.Series([], dtype="object"),
                "audience": pd.Series([], dtype="string"),
                "kind": pd.Series([], dtype="string"),
                "customer_id": pd.Series([], dtype="string"),
                "is_new_entry": pd.Series([], dtype=bool),
            }
        )
    out = history.copy()
    out["audience_date"] = pd.to_datetime(out["audience_date"]).dt.date
    return out[out["audience_date"] < audience_date]


def _exclusions(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"audience": rows["audience"], "rule": rule, "customer_id": rows["customer_id"]}
    ).reset_index(drop=True)


def _empty_selection() -> pd.DataFrame:
    return pd.DataFrame(columns=["audience", "customer_id", "reason", "payload"])


def _empty_suppressions() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [], "channel": [], "reason": []}, dtype="string")
